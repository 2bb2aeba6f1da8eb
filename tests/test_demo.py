from __future__ import annotations

import pytest

from samprompt.demo import FULL_EVAL_ITEMS, QUICK_EVAL_ITEMS, DemoSettings, demo_methods, preset_steps
from samprompt.errors import ConfigError
from samprompt.methods.registry import get_method


def test_quick_demo_is_the_default_and_full_trains_each_method_its_full_steps():
    quick, full = DemoSettings(), DemoSettings(full=True)
    assert (quick.eval_items, full.eval_items) == (QUICK_EVAL_ITEMS, FULL_EVAL_ITEMS)
    for method in demo_methods():
        assert full.steps_of(method) == method.demo_steps
        assert quick.steps_of(method) == (method.demo_quick_steps or method.demo_steps)
        assert 0 < quick.steps_of(method) <= full.steps_of(method)
    assert sum(quick.steps_of(m) for m in demo_methods()) < sum(full.steps_of(m) for m in demo_methods())


def test_steps_and_items_asked_for_win_over_the_preset():
    method = demo_methods()[0]
    settings = DemoSettings(full=True, steps={method.name: 3}, eval_items=7)
    assert settings.steps_of(method) == 3 and settings.eval_items == 7
    assert preset_steps(method, full=True) == method.demo_steps


@pytest.mark.parametrize("field, value", [("eval_items", 0), ("train_images", -1)])
def test_demo_settings_refuse_non_positive_sizes(field, value):
    with pytest.raises(ConfigError, match=field):
        DemoSettings(**{field: value})


def test_demo_lanes_split_the_independent_sections_and_run_the_composing_one_after():
    from samprompt.demo import demo_lanes

    methods = demo_methods()
    lanes, after = demo_lanes(methods, 2)
    assert [m.name for m in after] == [m.name for m in methods if m.demo_uses] == ["refsam_clicks"]
    assert len(lanes) == 2
    assert sorted(m.name for lane in lanes for m in lane) == sorted(m.name for m in methods if not m.demo_uses)
    order = [m.name for m in methods]
    assert all([m.name for m in lane] == sorted((m.name for m in lane), key=order.index) for lane in lanes)
    loads = [sum(m.demo_quick_seconds for m in lane) for lane in lanes]
    longest = max(m.demo_quick_seconds for lane in lanes for m in lane)
    assert max(loads) - min(loads) <= longest                     # no lane idles for a whole section
    used = {name for m in after for name in m.demo_uses}
    assert used <= {m.name for lane in lanes for m in lane}       # what the composing section loads runs first
    one, later = demo_lanes(methods, 1)
    assert [[m.name for m in lane] for lane in one] == [[m.name for m in methods if not m.demo_uses]]
    assert later == after
    many, _ = demo_lanes(methods, 64)                  # no lane longer than the longest section
    assert len(many) <= len(methods) - len(after)
    assert max(sum(m.demo_quick_seconds for m in lane) for lane in many) == longest
    assert demo_lanes([get_method("refsam_clicks")], 2) == ([], [get_method("refsam_clicks")])


@pytest.mark.parametrize("jobs", [0, -1, 1.5, True])
def test_demo_settings_refuse_a_bad_number_of_jobs(jobs):
    with pytest.raises(ConfigError, match="jobs"):
        DemoSettings(jobs=jobs)


def test_demo_lanes_share_out_many_sections_longest_first():
    from types import SimpleNamespace

    from samprompt.demo import demo_lanes

    sections = [SimpleNamespace(name=f"s{i}", demo_uses=(), demo_quick_seconds=float(10 + 7 * i)) for i in range(13)]
    lanes, after = demo_lanes(sections, 2)          # 2 ** 13 splits: too many to try, so longest first
    assert after == [] and len(lanes) == 2
    assert sorted(m.name for lane in lanes for m in lane) == sorted(m.name for m in sections)
    assert all(lane == sorted(lane, key=sections.index) for lane in lanes)
    loads = [sum(m.demo_quick_seconds for m in lane) for lane in lanes]
    assert abs(loads[0] - loads[1]) <= min(m.demo_quick_seconds for m in sections)
