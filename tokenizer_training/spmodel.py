"""Read and write sentencepiece ``.model`` files (a serialized ``ModelProto``) without protobuf.

sentencepiece's generated ``sentencepiece_model_pb2`` needs a newer protobuf runtime than Apache
Beam allows, so this module speaks the protobuf wire format directly. Only the fields the merge
needs are decoded (the piece table, a few trainer/normalizer fields); every other field is kept as
raw bytes and written back unchanged, so a round trip is lossless.
"""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

# ModelProto.SentencePiece.Type
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
# TrainerSpec.ModelType
UNIGRAM, BPE, WORD, CHAR = 1, 2, 3, 4

# Field numbers from sentencepiece_model.proto.
_MODEL_PIECES, _MODEL_TRAINER, _MODEL_NORMALIZER = 1, 2, 3
_PIECE_PIECE, _PIECE_SCORE, _PIECE_TYPE = 1, 2, 3
_TRAINER_MODEL_TYPE, _TRAINER_VOCAB_SIZE, _TRAINER_BOS_ID, _TRAINER_EOS_ID = 3, 4, 41, 42
_NORM_NAME, _NORM_ADD_DUMMY_PREFIX, _NORM_REMOVE_EXTRA_WS = 1, 3, 4

Field = tuple[int, int, "int | bytes"]  # (number, wire type, varint value or raw payload)


def _read_varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # negative int32/int64 are encoded as 10-byte two's complement
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def parse_fields(buf: bytes) -> list[Field]:
    """Decode one message into its fields, in order (repeated fields appear repeatedly)."""
    fields: list[Field] = []
    pos = 0
    while pos < len(buf):
        key, pos = _read_varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            length, pos = _read_varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} (field {number})")
        fields.append((number, wire, value))
    return fields


def serialize_fields(fields: list[Field]) -> bytes:
    out = bytearray()
    for number, wire, value in fields:
        out += _varint(number << 3 | wire)
        if wire == 0:
            out += _varint(int(value))
        elif wire == 2:
            out += _varint(len(value)) + bytes(value)
        else:
            out += bytes(value)
    return bytes(out)


def _get(fields: list[Field], number: int, default: int | bytes) -> int | bytes:
    for n, _, value in reversed(fields):  # protobuf: the last occurrence wins
        if n == number:
            return value
    return default


def _set_varint(fields: list[Field], number: int, value: int) -> list[Field]:
    kept = [f for f in fields if f[0] != number]
    return kept + [(number, 0, value)]


@dataclasses.dataclass
class Piece:
    piece: str
    score: float = 0.0
    type: int = NORMAL


@dataclasses.dataclass
class SpModel:
    """The piece table plus the other ModelProto fields kept as raw, re-serialisable bytes."""

    pieces: list[Piece]
    trainer: list[Field]
    normalizer: list[Field]
    rest: list[Field]  # self_test_data, denormalizer_spec, unknown fields

    @classmethod
    def from_bytes(cls, data: bytes) -> SpModel:
        pieces: list[Piece] = []
        trainer: list[Field] = []
        normalizer: list[Field] = []
        rest: list[Field] = []
        for number, wire, value in parse_fields(data):
            if number == _MODEL_PIECES:
                sub = parse_fields(value)
                score = _get(sub, _PIECE_SCORE, b"")
                pieces.append(
                    Piece(
                        piece=bytes(_get(sub, _PIECE_PIECE, b"")).decode("utf-8"),
                        score=struct.unpack("<f", score)[0] if score else 0.0,
                        type=int(_get(sub, _PIECE_TYPE, NORMAL)),
                    )
                )
            elif number == _MODEL_TRAINER:
                trainer = parse_fields(value)
            elif number == _MODEL_NORMALIZER:
                normalizer = parse_fields(value)
            else:
                rest.append((number, wire, value))
        return cls(pieces, trainer, normalizer, rest)

    @classmethod
    def load(cls, path: str | Path) -> SpModel:
        return cls.from_bytes(Path(path).read_bytes())

    def to_bytes(self) -> bytes:
        fields: list[Field] = []
        for p in self.pieces:
            sub: list[Field] = [
                (_PIECE_PIECE, 2, p.piece.encode("utf-8")),
                (_PIECE_SCORE, 5, struct.pack("<f", p.score)),
            ]
            if p.type != NORMAL:  # the proto default, omitted like sentencepiece does
                sub.append((_PIECE_TYPE, 0, p.type))
            fields.append((_MODEL_PIECES, 2, serialize_fields(sub)))
        fields.append((_MODEL_TRAINER, 2, serialize_fields(self.trainer)))
        fields.append((_MODEL_NORMALIZER, 2, serialize_fields(self.normalizer)))
        return serialize_fields(fields + self.rest)

    def save(self, path: str | Path) -> None:
        Path(path).write_bytes(self.to_bytes())

    @property
    def model_type(self) -> int:
        return int(_get(self.trainer, _TRAINER_MODEL_TYPE, UNIGRAM))

    @property
    def normalizer_name(self) -> str:
        return bytes(_get(self.normalizer, _NORM_NAME, b"")).decode("utf-8")

    def trainer_int(self, number: int, default: int) -> int:
        value = int(_get(self.trainer, number, default))
        return value - (1 << 64) if value >= 1 << 63 else value  # int32 fields are sign-extended

    @property
    def bos_id(self) -> int:
        return self.trainer_int(_TRAINER_BOS_ID, 1)

    @property
    def eos_id(self) -> int:
        return self.trainer_int(_TRAINER_EOS_ID, 2)

    def set_trainer_vocab_size(self, n: int) -> None:
        self.trainer = _set_varint(self.trainer, _TRAINER_VOCAB_SIZE, n)

    def with_plain_normalizer(self) -> SpModel:
        """A copy that encodes a string exactly as given: no dummy ``▁`` prefix, whitespace kept.
        Used to encode a piece's surface form in isolation (the reachability check)."""
        norm = _set_varint(self.normalizer, _NORM_ADD_DUMMY_PREFIX, 0)
        norm = _set_varint(norm, _NORM_REMOVE_EXTRA_WS, 0)
        return dataclasses.replace(self, normalizer=norm)
