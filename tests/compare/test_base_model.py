"""The shared base model of the first experience: the same rows with and
without the cache, written once and reused."""

import pytest

from avalanche_featadapt.compare import base_model, run_comparison
from avalanche_featadapt.compare.report import base_line
from avalanche_featadapt.compare.results import CSV_FIELDS

_SMALL = dict(
    benchmark="split-digits",
    protocol="b50-5",
    strategies=["naive", "replay"],
    seeds=[0],
    epochs=1,
    memory_bytes=3200,
    quiet=True,
)
_TIMED = {"wall_time_s", "cpu_time_s"}


def _accuracies(rows):
    # repr: exactly equal floats, and NaN (no old classes yet) equal to NaN
    return [{k: repr(r[k]) for k in CSV_FIELDS if k not in _TIMED} for r in rows]


def test_rows_equal_with_and_without_cache_and_file_written_once(tmp_path, monkeypatch):
    seen = []  # (path, iterations of the first experience, taken from cache)
    after = base_model.BaseModelCache.after_training_exp

    def spy(self, strategy, **kw):
        if strategy.clock.train_exp_counter == 0:
            cached = self._cached is not None
            seen.append((self.path, strategy.clock.train_exp_iterations, cached))
        return after(self, strategy, **kw)

    monkeypatch.setattr(base_model.BaseModelCache, "after_training_exp", spy)
    plain = run_comparison(**_SMALL, out=tmp_path / "plain", base_cache=False)
    assert seen == [] and not (tmp_path / "plain" / "base_models").exists()
    assert "no base cache" in (tmp_path / "plain" / "summary.md").read_text()

    cached = run_comparison(**_SMALL, out=tmp_path / "cached")
    assert _accuracies(cached) == _accuracies(plain)
    files = list((tmp_path / "cached" / "base_models").glob("*.pt"))
    assert len(files) == 1
    (naive_path, naive_its, naive_hit), (replay_path, replay_its, replay_hit) = seen
    assert naive_path == replay_path == files[0]
    assert naive_its > 0 and not naive_hit  # naive trained and wrote it
    assert replay_its == 0 and replay_hit  # replay skipped its epochs

    # a second comparison in the same folder reuses it for both
    seen.clear()
    again = run_comparison(**_SMALL, out=tmp_path / "cached")
    assert _accuracies(again) == _accuracies(plain)
    assert [hit for *_, hit in seen] == [True, True]
    summary = (tmp_path / "cached" / "summary.md").read_text()
    assert base_line(["naive", "replay"], True) in summary


def test_key_tells_recipes_apart(tmp_path):
    key = base_model.BaseModelKey(
        folder=str(tmp_path), benchmark="split-digits", protocol="b50-5"
    )
    from avalanche_featadapt import make_digits_model

    args = dict(model_factory=make_digits_model, lr=1e-4, batch_size=32)
    one = key.path(seed=0, epochs=1, device="cpu", **args)
    assert one == key.path(seed=0, epochs=1, device="cpu", **args)
    assert one != key.path(seed=1, epochs=1, device="cpu", **args)
    assert one != key.path(seed=0, epochs=2, device="cpu", **args)


def test_summary_says_who_shares():
    line = base_line(["naive", "lwf", "featadapt", "icarl"], True)
    assert "naive, lwf" in line and "featadapt, icarl" in line
    assert "no base cache" in base_line(["naive"], False)


def test_bad_path_is_refused():
    with pytest.raises(ValueError, match="cache file"):
        base_model.BaseModelCache(path=None)
