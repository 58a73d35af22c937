"""Seeded mutations of encoded data sets, for the fuzz tests (unit: the engine; integration: the network)."""

from __future__ import annotations

import random


def mutate(data: bytes, rng: random.Random) -> bytes:
    mutated = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice, at = rng.random(), rng.randrange(len(mutated) + 1)
        if choice < 0.5 and at < len(mutated):
            mutated[at] = rng.randrange(256)
        elif choice < 0.7:
            del mutated[at:]
        elif choice < 0.85:
            mutated[at:at] = mutated[at : at + rng.randint(1, 16)]
        else:
            mutated[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
    return bytes(mutated)
