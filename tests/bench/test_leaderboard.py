import json

import pytest

from bench.leaderboard import by_defense, render, render_by_defense, summarize
from bench.testing import make_record


def _rec(attack, seed, tpr, auc, status="ok", track="t", defense="none", acc=0.8):
    return make_record(attack, defense, seed, track=track, status=status, utility={"test_accuracy": acc},
                       metrics={"auc": auc, "tpr@0.1%fpr": tpr, "tpr@1%fpr": 2 * tpr, "advantage": 0.1, "fpr_ood": 0.2,
                                "n_members": 100, "tpr@1%fpr_ci": [0.0, 0.1]})


def test_mean_std_over_seeds_sorted_by_low_fpr_tpr():
    recs = [_rec("weak", 0, 0.001, 0.6), _rec("weak", 1, 0.003, 0.62), _rec("strong", 0, 0.05, 0.7), _rec("strong", 1, 0.07, 0.7),
            _rec("strong", 2, 0, 0, status="failed")]
    rows = summarize(recs)
    assert [r["attack"] for r in rows] == ["strong", "weak"]
    assert rows[0]["seeds"] == 2 and rows[0]["tpr@0.1%fpr"] == pytest.approx(0.06)
    assert rows[0]["tpr@0.1%fpr_std"] == pytest.approx(0.01414, abs=1e-4)
    assert rows[0]["not_ok"] == "failed×1"
    assert rows[0]["fpr_ood"] == pytest.approx(0.2)  # task/scenario metrics become columns
    assert "n_members" not in rows[0] and "tpr@1%fpr_ci_std" not in rows[0]  # bookkeeping counts and intervals do not
    assert rows[0]["tpr@1%fpr_ci"] == [0.0, 0.1]  # the seeds' mean interval sits beside its metric


def test_formats_take_titles_and_formats_from_the_registry():
    recs = [_rec("a", 0, 0.01, 0.6)]
    md = render(recs, "md", wide=True)
    head = md.splitlines()[2]
    assert "TPR@0.1%FPR" in head and "AUC" in head and "bal. acc" in head and "fpr_ood" in head
    assert "1.00%" in md and "0.600" in md and "20.00%" in md  # fpr_ood is a rate
    assert json.loads(render(recs, "json"))[0]["auc"] == 0.6
    assert render(recs, "html").startswith("<!DOCTYPE html>")
    with pytest.raises(ValueError, match="unknown leaderboard format 'xml'"):
        render(recs, "xml")


def test_the_html_view_splits_records_without_a_stated_threat_model_by_the_installed_plugins():
    """Records from before records stated a threat model (every migrated entry) take the installed attack's, as the
    README and the site do: `leaderboard table --format html` must not rank a label-only attack against a white-box one
    on one "unknown" board."""
    html = render([_rec("label-aug", 0, 0.001, 0.55), _rec("gradnorm", 0, 0.05, 0.7)], "html")
    assert "— label attacks" in html and "— whitebox attacks" in html and "unknown attacks" not in html


def _table_lines(md):
    return [line for line in md.splitlines() if line.startswith("|")]


def _cells(md, attack):
    """The cells of ``attack``'s row, by column title."""
    lines = _table_lines(md)
    titles = [c.strip() for c in lines[0].strip("|").split("|")]
    for line in lines[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if attack in cells:
            return dict(zip(titles, cells))
    raise AssertionError(f"no row for {attack} in\n{md}")


def test_one_seed_shows_its_interval_never_plus_minus_zero():
    recs = [make_record("lira", seed=0, metrics={"auc": 0.75, "auc_ci": [0.7, 0.8], "tpr@0.1%fpr": 0.012, "tpr@0.1%fpr_ci": [0.005, 0.024],
                                                 "tpr@1%fpr": 0.05, "tpr@1%fpr_ci": [0.03, 0.07], "advantage": 0.2})]
    for wide in (False, True):
        md = render(recs, "md", wide=wide)
        assert "±" not in md
        row = _cells(md, "lira")
        assert row["AUC"] == "0.750 [0.700, 0.800]" and row["TPR@0.1%FPR"] == "1.20% [0.50, 2.40]"
        assert row["advantage"] == "0.200"  # no interval in the record: the value alone
        assert "1 seed per cell: value [95% interval]" in md.splitlines()[0]


def test_several_seeds_show_mean_and_std_and_trailing_zeros_stay():
    recs = [_rec("a", s, tpr, 0.5 + s / 10) for s, tpr in ((0, 0.01), (1, 0.03))]
    row = _cells(render(recs, "md"), "a")
    assert row["AUC"] == "0.550 ± 0.071" and row["TPR@0.1%FPR"] == "2.00% ± 1.41"
    assert row["test acc"] == "80.00% ± 0.00"  # every number keeps its registry format: no 0.8, no 80.0%


def test_default_table_fits_120_columns_and_wide_shows_every_column():
    recs = [make_record(a, d, 0, metrics={"auc": 0.61, "auc_ci": [0.58, 0.64], "tpr@0.1%fpr": 0.1234, "tpr@0.1%fpr_ci": [0.1011, 0.1499],
                                         "tpr@1%fpr": 0.2, "tpr@1%fpr_ci": [0.17, 0.23], "balanced_accuracy": 0.6, "advantage": 0.2,
                                         "fpr_ood": 0.2, "fpr_ood_ci": [0.17, 0.23], "fpr_neighbours": 0.5, "fpr_neighbours_ci": [0.45, 0.55]},
                        utility={"test_accuracy": 0.9})
            for a in ("mlleaks-adv1", "clip-similarity") for d in ("confidence-clamp", "label-smoothing")]
    recs.append(make_record("lira", "none", 0, status="failed"))
    md = render(recs, "md")
    assert max(map(len, md.splitlines())) <= 120
    head = _table_lines(md)[0]
    assert all(t in head for t in ("AUC", "TPR@0.1%FPR", "TPR@1%FPR", "test acc")) and "fpr_ood" not in head
    assert "not shown:" in md and "fpr_ood" in md and "--wide" in md
    assert "not ok: none/lira failed×1" in md
    wide = render(recs, "md", wide=True)
    assert max(map(len, wide.splitlines())) > 120
    assert all(t in _table_lines(wide)[0] for t in ("fpr_ood", "fpr_neighbours", "advantage", "seeds", "not ok"))


def _integrity(seed, metrics):
    from bench import Record

    rec = make_record("homoglyph", seed=seed, track="text-encoder", metrics=metrics).to_dict()
    return Record.from_dict({**rec, "track": {"name": "text-encoder", "task": "integrity"}})


def test_the_run_table_ranks_attacks_only_against_attacks_with_the_same_access():
    label = _rec("hsj", 0, 0.01, 0.6).replace(attack=make_record({"name": "hsj", "threat_model": "label"}).attack)
    whitebox = _rec("grad", 0, 0.5, 0.9).replace(attack=make_record({"name": "grad", "threat_model": "whitebox"}).attack)
    md = render([whitebox, label], "md")
    heads = [line for line in md.splitlines() if line.startswith("t · budget")]
    assert len(heads) == 2 and "label attacks" in heads[0] and "whitebox attacks" in heads[1]
    assert [r["attack"] for r in summarize([whitebox, label])] == ["hsj", "grad"]  # label first, whatever the TPRs


def test_mixed_seed_counts_explain_both_forms_within_the_width():
    recs = [_rec("a", 0, 0.01, 0.6), _rec("b", 0, 0.02, 0.7), _rec("b", 1, 0.03, 0.7)]
    md = render(recs, "md")
    assert max(map(len, md.splitlines())) <= 120
    flat = " ".join(md.split())  # the heading wraps at the width
    assert "value [95% interval]" in flat and "mean ± std over seeds" in flat
    assert _cells(md, "a")["seeds"] == "1" and _cells(md, "b")["seeds"] == "2"


def test_integrity_counts_are_integers():
    recs = [_integrity(s, {"homoglyph_effect_size": 0.5 + s / 100, "homoglyph_p_value": 0.01, "n_prompts": 48}) for s in (0, 1)]
    md = render(recs, "md")
    assert "integrity" in md.splitlines()[0] and _cells(md, "homoglyph")["n_prompts"] == "48"
    assert _cells(render(recs[:1], "md"), "homoglyph")["n_prompts"] == "48"
    uneven = recs[:1] + [_integrity(1, {"n_prompts": 50})]
    assert _cells(render(uneven, "md"), "homoglyph")["n_prompts"] == "49.0 ± 1.4"  # seeds disagree: the spread shows


def test_by_defense_takes_the_strongest_attack_and_the_utility_cost():
    recs = [_rec("a", 0, 0.05, 0.9), _rec("b", 0, 0.10, 0.6), _rec("a", 0, 0.0, 0.7, defense="dp", acc=0.7),
            _rec("b", 0, 0.0, 0.55, defense="dp", acc=0.7)]
    view = {r["defense"]: r for r in by_defense(recs)}
    assert view["none"]["strongest_attack"] == "b"  # TPR@0.1%FPR first, though a has the higher AUC
    assert view["dp"]["strongest_attack"] == "a"  # a TPR tie: AUC decides
    assert view["dp"]["utility_cost"] == pytest.approx(0.1) and view["dp"]["attacks"] == 2
    csv = render_by_defense(recs, "csv").splitlines()
    assert csv[0] == "track,budget,defense,strongest_attack,attacks,auc,tpr@0.1%fpr,tpr@1%fpr,test_accuracy,utility_cost"
    with pytest.raises(ValueError, match="per-defense format 'html'"):
        render_by_defense(recs, "html")
