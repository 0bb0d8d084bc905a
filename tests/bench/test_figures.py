"""Figures draw published text as text."""

from bench._figures import Curve, plot_roc


def test_a_dollar_in_a_published_label_is_drawn_not_parsed(tmp_path):
    """A published option "$\\undefinedcmd{$" went into a legend as mathtext and stopped the site's build (re-attack 45)."""
    label = "lira (accountant=$\\undefinedcmd{$) — rounding $x$"
    plot_roc([Curve(label, [0.001, 0.1, 1.0], [0.01, 0.3, 1.0])], "board $\\frac{", tmp_path / "roc", svg=False)
    assert [p.stat().st_size > 0 for p in tmp_path.glob("roc*.png")] == [True]
