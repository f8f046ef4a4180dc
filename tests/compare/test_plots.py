"""The plots say what they show: "one seed" where there is one (not "mean
± std over seeds"), and the drift plot's y-label names only the methods
that ran."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from avalanche_featadapt.compare import plots  # noqa: E402
from helpers import synthetic_rows  # noqa: E402


@pytest.fixture
def figures(monkeypatch):
    """The figures the plots make, kept open to read their texts."""
    kept, close = [], plt.close
    monkeypatch.setattr(plt, "close", lambda fig=None: kept.append(fig))
    yield kept
    for fig in kept:
        close(fig)


def _texts(fig):
    return [t.get_text() for t in fig.texts] + [ax.get_ylabel() for ax in fig.axes]


@pytest.mark.parametrize("seeds, says", [((0,), "one seed"), ((0, 1, 2), "3 seeds")])
def test_titles_say_one_seed_or_how_many(tmp_path, figures, seeds, says):
    rows = synthetic_rows(
        {"featadapt": {1000: 0.8, 2000: 0.85}, "naive": {1000: 0.2}}, seeds
    )
    plots.plot_accuracy_per_experience(rows, tmp_path / "e.png")
    plots.plot_accuracy_vs_memory(rows, tmp_path / "m.png")
    titles = [t for fig in figures for t in _texts(fig) if "Accuracy" in t]
    assert len(titles) == 2 and all(says in t for t in titles), titles
    if len(seeds) == 1:
        assert not any("±" in t for t in titles)
    else:
        assert all("mean ± std over 3 seeds" in t for t in titles)


@pytest.mark.parametrize(
    "names, has, lacks",
    [
        (["featadapt", "featadapt-noadapt"], "FA: per feature", "SDC"),
        (["sdc", "sdc-nocomp"], "SDC: per class mean", "FA"),
        (["featadapt", "sdc"], "FA: per feature; SDC: per class mean", None),
    ],
)
def test_drift_ylabel_names_only_the_methods_that_ran(
    tmp_path, figures, names, has, lacks
):
    rows = synthetic_rows({n: {1000: 0.5} for n in names})
    assert plots.plot_drift(rows, tmp_path / "d.png")
    label = figures[-1].axes[0].get_ylabel()
    assert has in label
    assert lacks is None or lacks not in label
