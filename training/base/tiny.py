"""Tiny randomly initialised encoder + tokenizer, same layout as the real base model.

Used by the test suite and the CI-sized end-to-end run: a BERT with hidden 32 and
two layers, and a Unigram tokenizer (XLM-R special ids <s>=0 <pad>=1 </s>=2 <unk>=3)
trained in a second on a built-in multilingual text sample.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SAMPLE_TEXT = [
    "Ești un cretin, taci din gură.",
    "Felicitări, domnule primar, geniu curat! 👏",
    "Vând Logan 2012, detalii în privat.",
    "Noua linie de tramvai din Cluj va fi gata anul viitor.",
    "Primăria a anunțat lucrări pe strada principală, șoferii să evite zona.",
    "sa li se urce la cap, asa e mereu in tara asta",
    "This budget is a disgrace and the council should resign.",
    "Sure, because that worked so well last time 🙄",
    "Who watched the match last night? Earn money from home: http://example.com",
    "The library will close on Sundays from next month, the city said.",
    "Ну да, конечно, лучшие в мире дороги 😂",
    "Сдохни, тварь. Автора на мило.",
    "Міська рада ухвалила новий бюджет на наступний рік.",
    "Дякую за статтю, дуже корисно. Коли відкриють міст?",
    "Die Stadt baut eine neue Straßenbahnlinie.",
    "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 ăâîșțşţ",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя єіїґ .,!?;:-()\"'",
]

SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>"]


def build_tiny_tokenizer(vocab_size: int = 600) -> Tokenizer:
    """A small Unigram tokenizer with the base model's special-token ids."""
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        unk_token="<unk>",  # noqa: S106
        shrinking_factor=0.75,
    )
    tok.train_from_iterator(SAMPLE_TEXT * 4, trainer=trainer)
    return tok


def build_tiny_encoder(out_dir: Path, seed: int = 0, hidden: int = 32, layers: int = 2) -> Path:
    """Write a tiny random BERT checkpoint (safetensors + config + tokenizer.json) to ``out_dir``."""
    import torch
    from transformers import BertConfig, BertModel

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tiny_tokenizer()
    tok.save(str(out_dir / "tokenizer.json"))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=hidden * 2,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=1,
    )
    model = BertModel(config, add_pooling_layer=False)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    return out_dir
