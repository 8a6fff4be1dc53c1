"""IEEE 11073-20601 SFLOAT-Type and FLOAT-Type: the medical number formats of the
Bluetooth SIG health characteristics (encode and decode, pure).

**SFLOAT** (16 bits): a 4-bit signed exponent (high nibble) and a 12-bit signed mantissa,
value = mantissa x 10^exponent. With exponent 0 the mantissas 0x7FF (NaN), 0x800 (NRes:
not at this resolution), 0x7FE (+INFINITY), 0x802 (-INFINITY) and 0x801 (reserved) are
special values.

**FLOAT** (32 bits): an 8-bit signed exponent (high byte) and a 24-bit signed mantissa.
With exponent 0 the mantissas 0x7FFFFF (NaN), 0x800000 (NRes), 0x7FFFFE (+INFINITY),
0x800002 (-INFINITY) and 0x800001 (reserved) are special.

Both are two's complement in each field (not a biased exponent: 0x8078 is 120 x 10^-8,
not 120). A special value decodes as `SFloatSpecial` (one enum for both types; its
`value` is the SFLOAT raw form). Which special value it was matters only to the reader of
a log: none of them is a number, and a reading made of one is never scored.
"""

from __future__ import annotations

import math
from enum import Enum
from typing import Final


class SFloatSpecial(Enum):
    """IEEE 11073-20601 special values (exponent 0; the raw 16-bit SFLOAT value)."""

    NAN = 0x07FF
    NRES = 0x0800  # not at this resolution
    POSITIVE_INFINITY = 0x07FE
    NEGATIVE_INFINITY = 0x0802
    RESERVED = 0x0801


SFloatValue = float | SFloatSpecial

_SPECIAL_BY_RAW: Final = {s.value: s for s in SFloatSpecial}
_MANTISSA_MAX: Final = 2045  # +-2046.. are the special mantissas: never encode them
_EXP_MIN: Final = -8
_EXP_MAX: Final = 7

# FLOAT: the same specials at 24-bit mantissas (exponent byte 0).
_FLOAT_RAW: Final[dict[SFloatSpecial, int]] = {
    SFloatSpecial.NAN: 0x007FFFFF,
    SFloatSpecial.NRES: 0x00800000,
    SFloatSpecial.POSITIVE_INFINITY: 0x007FFFFE,
    SFloatSpecial.NEGATIVE_INFINITY: 0x00800002,
    SFloatSpecial.RESERVED: 0x00800001,
}
_FLOAT_SPECIAL_BY_RAW: Final = {raw: s for s, raw in _FLOAT_RAW.items()}
_FLOAT_MANTISSA_MAX: Final = 0x7FFFFD
_FLOAT_EXP_MIN: Final = -128
_FLOAT_EXP_MAX: Final = 127


def _scaled(mantissa: int, exponent: int) -> float:
    # Divide for negative exponents: 975 / 10 is 97.5, 975 * 0.1 is 97.50000000000001.
    return float(mantissa * 10**exponent) if exponent >= 0 else mantissa / 10**-exponent


def _decode(raw: int, bits: int, specials: dict[int, SFloatSpecial]) -> SFloatValue:
    """A `bits`-wide value: the high quarter the exponent, the rest the mantissa, both
    two's complement; a special value first (its exponent is 0)."""
    if not 0 <= raw < 1 << bits:
        raise ValueError(f"{raw} outside {bits} bits")
    special = specials.get(raw)
    if special is not None:
        return special
    m_bits = bits * 3 // 4
    mantissa = raw & ((1 << m_bits) - 1)
    if mantissa >= 1 << (m_bits - 1):
        mantissa -= 1 << m_bits
    exponent = raw >> m_bits
    if exponent >= 1 << (bits - m_bits - 1):
        exponent -= 1 << (bits - m_bits)
    return _scaled(mantissa, exponent)


def decode_sfloat(raw: int) -> SFloatValue:
    """A 16-bit SFLOAT -> its number, or the special value it is."""
    return _decode(raw, 16, _SPECIAL_BY_RAW)


def decode_float(raw: int) -> SFloatValue:
    """A 32-bit FLOAT -> its number, or the special value it is."""
    return _decode(raw, 32, _FLOAT_SPECIAL_BY_RAW)


def _mantissa_exponent(
    value: float, decimals: int, mantissa_max: int, exp_min: int, exp_max: int
) -> tuple[int, int]:
    if not -exp_max <= decimals <= -exp_min:
        raise ValueError(f"decimals {decimals} outside {-exp_max}..{-exp_min}")
    exponent = -decimals
    mantissa = round(value * 10.0**decimals)
    while mantissa != 0 and mantissa % 10 == 0 and exponent < exp_max:
        mantissa //= 10
        exponent += 1
    if mantissa == 0:
        exponent = 0
    while abs(mantissa) > mantissa_max:  # too many digits: lose resolution, as NRes says
        mantissa = round(mantissa / 10)
        exponent += 1
    if exponent > exp_max:
        raise ValueError(f"{value} is too large")
    return mantissa, exponent


def _special_of(value: SFloatValue) -> SFloatSpecial | None:
    if isinstance(value, SFloatSpecial):
        return value
    if math.isnan(value):
        return SFloatSpecial.NAN
    if math.isinf(value):
        return SFloatSpecial.POSITIVE_INFINITY if value > 0 else SFloatSpecial.NEGATIVE_INFINITY
    return None


def encode_sfloat(value: SFloatValue, decimals: int = 1) -> int:
    """`value` as a 16-bit SFLOAT, to `decimals` decimals at most (trailing zeros dropped:
    97.0 -> mantissa 97, exponent 0). NaN and +-inf floats become the special values."""
    special = _special_of(value)
    if special is not None:
        return int(special.value)
    assert not isinstance(value, SFloatSpecial)
    mantissa, exponent = _mantissa_exponent(value, decimals, _MANTISSA_MAX, _EXP_MIN, _EXP_MAX)
    return ((exponent & 0xF) << 12) | (mantissa & 0x0FFF)


def encode_float(value: SFloatValue, decimals: int = 2) -> int:
    """`value` as a 32-bit FLOAT, to `decimals` decimals at most (trailing zeros dropped)."""
    special = _special_of(value)
    if special is not None:
        return _FLOAT_RAW[special]
    assert not isinstance(value, SFloatSpecial)
    mantissa, exponent = _mantissa_exponent(
        value, decimals, _FLOAT_MANTISSA_MAX, _FLOAT_EXP_MIN, _FLOAT_EXP_MAX
    )
    return ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)


def sfloat_number(value: SFloatValue) -> float | None:
    """The number, or None for a special value."""
    return None if isinstance(value, SFloatSpecial) else value
