import json

from streams.security import json_depth_exceeds


def nested(depth):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_is_counted_without_recursion_even_far_past_the_limit():
    assert not json_depth_exceeds(nested(32), 32)
    assert json_depth_exceeds(nested(33), 32)
    assert json_depth_exceeds(nested(200_000), 32)  # a recursive walk would overflow the stack


def test_objects_and_lists_both_count():
    assert not json_depth_exceeds(json.loads('{"a": [{"b": 1}]}'), 3)
    assert json_depth_exceeds(json.loads('{"a": [{"b": [1]}]}'), 3)
    assert not json_depth_exceeds("scalar", 1)
