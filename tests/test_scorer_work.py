"""Less work per comment, the same model input: each article context is tokenised once per call, and
text without control characters skips the character table (benchmarks/profile_scoring.py measures both).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tokenizers import Tokenizer

from commentmod.model.inputs import ContextRule, Item, encode_items
from commentmod.serving.sanitize import fix_surrogates
from commentmod.serving.scorer_inputs import _CONTROLS, _scorable_text

TOKENIZER = Path(__file__).resolve().parent / "golden" / "tiny-fp32" / "tokenizer.json"
RULE = ContextRule(max_length=48, min_context_tokens=8, max_context_tokens=16, stride=8)


class CountingTokenizer:
    """A tokenizer that records the inputs of each ``encode_batch`` call."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer, self.calls = tokenizer, []

    def encode_batch(self, inputs: list[str], add_special_tokens: bool = True) -> list[Any]:
        self.calls.append(list(inputs))
        return self.tokenizer.encode_batch(inputs, add_special_tokens=add_special_tokens)


def test_each_context_is_tokenised_once_and_windows_are_unchanged() -> None:
    tok = Tokenizer.from_file(str(TOKENIZER))
    article = ("Bugetul Clujului", "Consiliul local a votat noul buget, cu o linie de tramvai. " * 5)
    items = [
        Item.clean("Ești un incompetent.", *article),
        Item.clean("Bravo, încă o taxă! " * 12, *article),  # several windows, the same context each
        Item.clean("No context here."),
        Item.clean("Other article", "Council approves cycling lanes", ""),
        Item.clean("Mulțumim pentru articol.", *article),
    ]
    counting = CountingTokenizer(tok)
    windows = encode_items(counting, items, RULE)
    assert windows == [encode_items(tok, [item], RULE)[0] for item in items]
    assert len(counting.calls) == 2 and len(counting.calls[1]) == 2  # comments, then 2 distinct contexts
    assert len(windows[1]) > 1


CONTROLS_AND_SPACES = ["\x00", "\x1b", "\x85", "\x0b", "\t", "\n", "\x7f", "a", " "]
CHARS = st.one_of(st.sampled_from(CONTROLS_AND_SPACES), st.characters())


@given(st.text(alphabet=CHARS, max_size=200))
def test_scorable_text_equals_the_full_translation(text: str) -> None:
    assert _scorable_text(text, 150) == fix_surrogates(text[:150]).translate(_CONTROLS)  # as before
