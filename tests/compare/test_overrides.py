"""Per-strategy hyperparameters from the command line (`--set`) and a TOML
file (`--config`): checked against the constructors before any run,
recorded in the results folder, and summary.json beside summary.md."""

import json

import pytest

from avalanche_featadapt.compare import main
from avalanche_featadapt.compare.overrides import (
    check_overrides,
    hyperparameter_names,
    load_config,
    merged,
    parse_sets,
)

SMALL = ["--seeds", "0", "--protocol", "b0-2", "--epochs", "1", "--quiet"]
SMALL += ["--memory-bytes", "3200"]


def test_set_values_read_as_toml_or_text():
    got = parse_sets(
        [
            "featadapt.lambda_fd=10",
            "featadapt.head_lr=1e-3",
            "featadapt.adapt=false",
            "featadapt-fp32.feature_dtype=float16",
            "lwf.temperature = 2.5",
        ]
    )
    assert got == {
        "featadapt": {"lambda_fd": 10, "head_lr": 0.001, "adapt": False},
        "featadapt-fp32": {"feature_dtype": "float16"},
        "lwf": {"temperature": 2.5},
    }
    for bad in ("featadapt", "featadapt=1", "lambda_fd=1", "a.b.c=1", "fa.x="):
        with pytest.raises(ValueError, match="write STRATEGY.PARAMETER=VALUE"):
            parse_sets([bad])


def test_config_file_and_set_merge_with_set_winning(tmp_path):
    f = tmp_path / "hp.toml"
    f.write_text(
        '[featadapt]\nlambda_fd = 5\nfeature_dtype = "int8"\n[lwf]\nalpha = 2\n'
    )
    got = merged(load_config(f), parse_sets(["featadapt.lambda_fd=10"]))
    assert got == {
        "featadapt": {"lambda_fd": 10, "feature_dtype": "int8"},
        "lwf": {"alpha": 2},
    }
    (tmp_path / "flat.toml").write_text("lambda_fd = 5\n")
    with pytest.raises(ValueError, match="are not tables"):
        load_config(tmp_path / "flat.toml")
    (tmp_path / "broken.toml").write_text("[featadapt\n")
    with pytest.raises(ValueError, match="is not valid TOML"):
        load_config(tmp_path / "broken.toml")
    with pytest.raises(ValueError, match="cannot read it"):
        load_config(tmp_path / "missing.toml")


def test_names_are_the_constructors_less_the_comparisons():
    fa = hyperparameter_names("featadapt")
    assert {"lambda_fd", "feature_dtype", "adapt", "image_fraction"} <= set(fa)
    assert not {"model", "memory_bytes", "train_epochs", "device"} & set(fa)
    assert hyperparameter_names("lwf") == ["alpha", "temperature"]
    assert "sigma" in hyperparameter_names("sdc")
    assert hyperparameter_names("naive") == hyperparameter_names("replay") == []


@pytest.mark.parametrize(
    "overrides, match",
    [
        ({"ewc": {"x": 1}}, "Unknown strategy 'ewc' in the hyperparameters"),
        ({"lwf": {"alpha": 1}}, "which is not run"),
        ({"featadapt": {"lamda_fd": 1}}, "no hyperparameter 'lamda_fd'; its hyper"),
        ({"featadapt": {"train_epochs": 1}}, "no hyperparameter 'train_epochs'"),
        ({"naive": {"lr": 1}}, "naive has no hyperparameters of its own"),
    ],
)
def test_unknown_names_are_refused_naming_the_valid_ones(overrides, match):
    with pytest.raises(ValueError, match=match):
        check_overrides(overrides, ["featadapt", "naive"])


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--set", "featadapt.lambda_fd=-1"], "lambda_fd must be a number >= 0"),
        (["--set", "featadapt.feature_dtype=int3"], "feature_dtype"),
        (["--set", "featadapt.lamda_fd=1"], "'lambda_fd'"),  # the valid names
        (["--set", "sdc.sigma=1"], "which is not run"),
        (["--config", "/nonexistent.toml"], "cannot read it"),
    ],
)
def test_bad_hyperparameters_refused_before_any_run(argv, match, tmp_path, capsys):
    out = tmp_path / "o"
    rc = main(
        ["compare", "--strategies", "featadapt", *SMALL, "--out", str(out)] + argv
    )
    assert rc == 2
    assert match in capsys.readouterr().err
    assert not out.exists()


def test_hyperparameters_recorded_and_summary_json_written(tmp_path):
    out = tmp_path / "o"
    f = tmp_path / "hp.toml"
    f.write_text("[lwf]\nalpha = 0.5\ntemperature = 3\n")
    argv = ["compare", "--strategies", "naive", "lwf", *SMALL, "--config", str(f)]
    argv += ["--set", "lwf.temperature=4", "--out", str(out)]
    assert main(argv) == 0
    settings = json.loads((out / "comparison.json").read_text())["settings"]
    assert settings["overrides"] == {"lwf": {"alpha": 0.5, "temperature": 4}}
    assert settings["hyperparameters"]["lwf"] == {"alpha": 0.5, "temperature": 4}
    assert "lwf={'alpha': 0.5, 'temperature': 4}" in (out / "summary.md").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"] == settings and summary["failures"] == []
    (lwf,) = [e for e in summary["results"] if e["strategy"] == "lwf"]
    assert lwf["seeds"] == [0] and lwf["memory_bytes"] == 3200
    assert lwf["held_bytes"]["per_seed"] == [0.0]  # LwF holds no memory
    final = lwf["final_accuracy"]
    assert 0 < final["mean"] <= 1 and final["per_seed"] == [final["mean"]]
    # the hyperparameters are part of the settings that a re-run compares
    assert main(argv[:-4] + ["--out", str(out)]) == 2
    # featadapt report rewrites summary.json from results.csv and the record
    (out / "summary.json").unlink()
    assert main(["report", str(out)]) == 0
    assert (
        json.loads((out / "summary.json").read_text())["results"] == summary["results"]
    )
