from __future__ import annotations

import pytest

from samprompt.demo import FULL_EVAL_ITEMS, QUICK_EVAL_ITEMS, DemoSettings, demo_methods, preset_steps
from samprompt.errors import ConfigError


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
