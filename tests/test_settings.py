"""Claim settings: typed, validated, registered, and a modified run is never the claim's check."""

import dataclasses
import json
import math

import numpy as np
import pytest

from wdcompanion import claims
from wdcompanion.claims import (
    balanced_rotation,
    equilibrium,
    hessian_spectrum,
    lambda_threshold,
    layer_norms,
    rotational_variants,
    unique_minimizer,
)
from wdcompanion.claims.protocol import Verdict, compare
from wdcompanion.claims.settings import MODIFIED, prose, resolve, scale_of, settings_table

MODULES = (lambda_threshold, unique_minimizer, hessian_spectrum, layer_norms, equilibrium, balanced_rotation,
           rotational_variants)


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_every_claim_registers_small_and_paper_settings(module):
    assert module.REGISTERED == {"small": module.SMALL, "paper": module.PAPER}
    assert isinstance(module.SMALL, module.Settings) and module.SMALL != module.PAPER
    assert scale_of(module.SMALL, module.REGISTERED) == "small" and scale_of(module.PAPER, module.REGISTERED) == "paper"
    assert resolve("paper", module.Settings, module.REGISTERED) is module.PAPER
    claim = next(c for c in claims.CLAIMS.values() if c.module == module.__name__.rsplit(".", 1)[1])
    assert claim.settings("small") is module.SMALL
    record = module.SMALL.to_record()
    assert json.loads(json.dumps(record, allow_nan=False)) == record  # plain JSON, tuples as lists
    table = settings_table(module.SMALL, module.REGISTERED)
    assert list(table.index) == [f.name for f in dataclasses.fields(module.Settings)]
    assert table["meaning"].str.len().min() > 0  # every field is documented
    with pytest.raises(TypeError, match="settings must be"):
        module.run(dict(dataclasses.asdict(module.SMALL)))
    with pytest.raises(ValueError, match="scale name"):
        module.run("huge")


def test_fields_are_coerced_and_checked_by_their_annotation():
    changed = dataclasses.replace(layer_norms.SMALL, depths=[2, 3], lam=1)
    assert changed.depths == (2, 3) and isinstance(changed.lam, float)
    assert scale_of(changed, layer_norms.REGISTERED) == MODIFIED
    with pytest.raises(TypeError, match=r"Settings\.starts must be an integer"):
        dataclasses.replace(layer_norms.SMALL, starts=10.5)
    with pytest.raises(TypeError, match=r"Settings\.depths\[1\] must be an integer"):
        dataclasses.replace(layer_norms.SMALL, depths=(2, "3"))
    with pytest.raises(TypeError, match=r"Settings\.large_shape must have 2 entries"):
        dataclasses.replace(layer_norms.SMALL, large_shape=(3, 4, 5))
    with pytest.raises(TypeError, match=r"Settings\.resnet must be a ResNetSettings"):
        dataclasses.replace(balanced_rotation.SMALL, resnet=True)
    with pytest.raises(ValueError, match=r"Settings\.lam must be finite"):
        dataclasses.replace(layer_norms.SMALL, lam=float("nan"))
    with pytest.raises(TypeError, match=r"Settings\.depths must be a tuple"):
        dataclasses.replace(layer_norms.SMALL, depths={2, 3})  # a set has no order
    with pytest.raises(ValueError, match=r"Settings\.lam must be finite and > 0"):
        dataclasses.replace(layer_norms.SMALL, lam=0.0)
    with pytest.raises(ValueError, match=r"Settings\.fan_in must be >= 2"):
        dataclasses.replace(equilibrium.SMALL, fan_in=1)  # a fan-in of 1 cannot rotate: refused, not mangled
    with pytest.raises(ValueError, match="exceptional_depth"):
        dataclasses.replace(unique_minimizer.SMALL, exceptional_depth=2)
    with pytest.raises(ValueError, match=r"EquilibriumCase\.betas must be two numbers in \[0, 1\)"):
        dataclasses.replace(equilibrium.SMALL.optimizers[0], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="SGDM takes momentum"):
        dataclasses.replace(equilibrium.SMALL.optimizers[2], momentum=None)
    with pytest.raises(ValueError, match="SpectrumTarget.cases"):
        dataclasses.replace(hessian_spectrum.SMALL.matrix[0], cases=((3, (5,)),))


def test_a_setting_reaches_every_part_of_the_experiment_it_belongs_to():
    """AdamW's weight decay is every AdamW warmup run's; the warmup fraction sets every warmed-up run's warmup steps."""
    changed = dataclasses.replace(rotational_variants.SMALL, adamw_wd=0.05, warmup_fraction=0.2)
    planned = rotational_variants.practical_settings(changed)
    adamw = [run for run in planned["warmup"] if run["optimizer"] in ("AdamW", "RV-AdamW")]
    assert {run["weight_decay"] for run in adamw} == {0.05}
    assert {run["warmup_steps"] for run in planned["warmup"]} == {0, int(0.2 * changed.train_steps)}
    assert {run["warmup_steps"] for run in planned["grid"]} == {0}
    with pytest.raises(TypeError, match="rotational_variants.Settings"):
        rotational_variants.practical_settings(dataclasses.asdict(changed))


def test_each_practical_experiment_trains_its_own_network():
    """At paper scale SGDM's sweep and the grids (with the wrapped runs) train the 1-D ResNet, AdamW's sweep the
    transformer (through its own training function), each for its own steps and batch, through ``training_arguments``."""
    paper = rotational_variants.PAPER
    planned = rotational_variants.practical_settings(paper)
    wrapped = rotational_variants.wrapped_settings(paper, {"Adam+L2": (1e-3, 1e-3), "AdamW": (1e-3, 0.1)})
    by_experiment = {"SGDM": [run for run in planned["warmup"] if run["optimizer"].endswith("SGDM")],
                     "AdamW": [run for run in planned["warmup"] if run["optimizer"].endswith("AdamW")],
                     "grid": planned["grid"] + wrapped}
    assert sum(map(len, by_experiment.values())) == len(planned["warmup"]) + len(planned["grid"]) + len(wrapped)
    assert {run["seed"] for run in by_experiment["AdamW"]} == set(paper.adamw_seeds) == {3, 4, 5}
    assert {(run["width"], run["depth"], run["steps"], run["batch"]) for run in by_experiment.pop("AdamW")} == {(32, 2, 600, 256)}
    assert {rotational_variants.trainer(run) for run in planned["warmup"] if run["optimizer"].endswith("AdamW")} == {
        rotational_variants.train_transformer_mnist1d}
    expected = {"SGDM": ("resnet", (8, 16, 32), 300, 4000), "grid": ("resnet", (8, 16, 32), 600, 500)}
    for experiment, runs in by_experiment.items():
        shared = rotational_variants.training_arguments(paper, experiment)
        assert {(run["arch"], tuple(run["widths"]), run["steps"], run["batch"]) for run in runs} == {
            (shared["arch"], tuple(shared["widths"]), shared["steps"], shared["batch"])} == {expected[experiment]}
    assert {run["warmup_steps"] for run in by_experiment["SGDM"]} == {0, int(paper.warmup_fraction * paper.sgdm_train_steps)}
    assert {run["warmup_steps"] for run in wrapped} == {rotational_variants.warmup_steps(paper, "grid")} == {60}
    with pytest.raises(ValueError, match="experiment"):
        rotational_variants.training_arguments(paper, "Lion")
    with pytest.raises(TypeError, match="rotational_variants.Settings"):
        rotational_variants.warmup_steps(dataclasses.asdict(paper), "grid")
    for field in ("adamw_betas", "grid_betas"):
        with pytest.raises(ValueError, match=f"Settings.{field}"):
            dataclasses.replace(rotational_variants.SMALL, **{field: (0.9, 1.5)})
    for field, value in (("sgdm_train_steps", 5), ("grid_train_steps", 5)):  # 10% of 5 steps: no warmup step
        with pytest.raises(ValueError, match=f"Settings.{field}"):
            dataclasses.replace(rotational_variants.SMALL, **{field: value})
    for field in ("sgdm_arch", "grid_arch"):
        with pytest.raises(ValueError, match=f"Settings.{field}"):
            dataclasses.replace(rotational_variants.SMALL, **{field: "cnn"})
    for field in ("sgdm_train_steps", "grid_train_steps", "grid_batch"):
        with pytest.raises(ValueError, match=field):
            dataclasses.replace(rotational_variants.SMALL, **{field: 0})


def _verdict(scale):
    return Verdict("dmf-layer-norms", (compare("x vs y", [1.0, 2.0], [1.0, 2.0], 1e-9, "abs"),), scale)


def test_a_modified_verdict_says_so_and_is_never_recorded(tmp_path, monkeypatch, capsys):
    modified = _verdict(MODIFIED)
    assert modified.modified and modified.line().startswith("PASS (modified settings) dmf-layer-norms:")
    assert not _verdict("small").modified and _verdict("small").line().startswith("PASS dmf-layer-norms:")
    with pytest.raises(ValueError, match="modified settings"):
        claims.write_record(modified, tmp_path)
    monkeypatch.setenv("WDC_RECORD_DIR", str(tmp_path))
    claims.conclude(modified)
    assert "(modified settings)" in capsys.readouterr().out and not list(tmp_path.glob("*.json"))
    (tmp_path / "dmf-layer-norms.json").write_text(json.dumps({"claim_id": "dmf-layer-norms", "scale": MODIFIED}))
    assert claims.read_records(tmp_path) == {}  # the dashboard never counts one, even if a file exists


def test_records_are_strict_json_with_measured_and_predicted_values(tmp_path):
    verdict = Verdict("dmf-layer-norms", (compare("x vs y", [1.0, math.inf], [1.0, 2.0], 0.1, "rel"),), "small",
                      settings=layer_norms.SMALL.to_record())
    path = claims.write_record(verdict, tmp_path)
    record = json.loads(path.read_text())  # json's default parser would accept Infinity; the writer must not write it
    assert "Infinity" not in path.read_text() and "NaN" not in path.read_text()
    assert record["comparisons"][0]["measured"] == [1.0, None] and record["comparisons"][0]["predicted"] == [1.0, 2.0]
    many = compare("many", np.ones(1000), 1.0, 0.1).to_record()  # a paper-scale multistart has millions of cases
    assert many["measured"] is None and many["n_cases"] == 1000
    assert record["comparisons"][0]["worst_error"] is None and record["settings"]["lam"] == layer_norms.SMALL.lam
    margins = verdict.margins()
    assert list(margins.columns) == ["error", "worst error", "tolerance", "worst / tolerance", "cases", "passed",
                                     "why this tolerance"]
    assert not margins.loc["x vs y", "passed"]


def test_a_modified_run_is_labelled_end_to_end():
    """A real (small) run with changed settings: labelled modified, and the settings it ran are in its verdict."""
    changed = dataclasses.replace(equilibrium.SMALL, optimizers=equilibrium.SMALL.optimizers[:2], neurons=16, taus=3.0,
                                  min_steps=300)
    verdict = equilibrium.run(changed).verdict
    assert verdict.scale == MODIFIED and "(modified settings)" in verdict.line()
    assert verdict.settings["neurons"] == 16 and len(verdict.settings["optimizers"]) == 2


def test_the_optimizer_names_are_the_random_walks_and_claims_import_without_torch():
    import subprocess
    import sys

    from wdcompanion import rotation
    from wdcompanion.claims import settings

    assert settings.OPTIMIZERS == rotation.OPTIMIZERS
    code = "import sys, wdcompanion.claims.settings, wdcompanion.claims.protocol; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_prose_and_glue(monkeypatch):
    assert repr(prose((1, 2, 3, 4))) == "1\u20134" and repr(prose((0.3, 1.0, 2.5))) == "0.3, 1, 2.5"
    assert prose(0.35) == 0.35 and repr(prose("rank one")) == "rank one"
    glued = {}
    monkeypatch.setattr("myst_nb.glue", lambda name, value, display=True: glued.__setitem__(name, value))
    claims.glue_settings(balanced_rotation.SMALL)
    assert glued["set_net_steps"] == balanced_rotation.SMALL.net_steps
    assert glued["set_hyper_lr"] == balanced_rotation.SMALL.hyper.lr  # nested settings, field by field
    assert repr(glued["set_resnet"]) == "None"
    assert np.isclose(glued["set_hyper_momentum"], 0.9)


def test_every_claim_comparison_says_why_its_tolerance():
    import ast
    from pathlib import Path

    for path in sorted(Path(claims.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "compare":
                reason = next((k.value for k in node.keywords if k.arg == "reason"), None)
                assert isinstance(reason, ast.Constant) and len(reason.value.split()) >= 4, f"{path.name}:{node.lineno}"
