import pytest

from zk_pipeline.jsonio import JsonInputError, parse_json


@pytest.mark.parametrize("text, kind", [
    ("{", "Expecting property name"),
    ("[" * 100000 + "]" * 100000, "RecursionError"),
    ('{"x": ' + "9" * 5000 + "}", "ValueError"),
    (b'{"x": "\xff"}', "UnicodeDecodeError"),
])
def test_every_unreadable_input_is_one_short_error(text, kind):
    with pytest.raises(JsonInputError, match="not valid JSON") as err:
        parse_json(text)
    assert kind in str(err.value) and len(str(err.value)) < 200


def test_valid_json_is_returned():
    assert parse_json(b'{"a": [1, 2]}') == {"a": [1, 2]}
