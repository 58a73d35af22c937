"""Named DIMSE status codes (PS3.7 Annex C and PS3.4 Annex H); no bare hex in logic."""

from enum import IntEnum


class Status(IntEnum):
    SUCCESS = 0x0000

    # PS3.7 Annex C, general DIMSE-N codes
    ATTRIBUTE_LIST_ERROR = 0x0107  # warning
    ATTRIBUTE_VALUE_OUT_OF_RANGE = 0x0116  # warning
    NO_SUCH_ATTRIBUTE = 0x0105
    INVALID_ATTRIBUTE_VALUE = 0x0106
    PROCESSING_FAILURE = 0x0110
    DUPLICATE_SOP_INSTANCE = 0x0111
    NO_SUCH_SOP_INSTANCE = 0x0112
    NO_SUCH_ARGUMENT = 0x0114
    INVALID_SOP_INSTANCE = 0x0117
    NO_SUCH_SOP_CLASS = 0x0118
    CLASS_INSTANCE_CONFLICT = 0x0119
    MISSING_ATTRIBUTE = 0x0120
    MISSING_ATTRIBUTE_VALUE = 0x0121
    NO_SUCH_ACTION = 0x0123
    NOT_AUTHORIZED = 0x0124
    UNRECOGNIZED_OPERATION = 0x0211
    RESOURCE_LIMITATION = 0x0213

    # PS3.4 Annex H, print management specific
    MEMORY_ALLOCATION_NOT_SUPPORTED = 0xB600
    COLLATION_NOT_SUPPORTED = 0xB601
    EMPTY_PAGE_FILM_SESSION = 0xB602
    EMPTY_PAGE_FILM_BOX = 0xB603
    IMAGE_DEMAGNIFIED = 0xB604
    DENSITY_OUT_OF_RANGE = 0xB605
    IMAGE_CROPPED = 0xB609
    IMAGE_DECIMATED = 0xB60A
    NO_FILM_BOX = 0xC600
    QUEUE_FULL_FILM_SESSION = 0xC601
    QUEUE_FULL_FILM_BOX = 0xC602
    IMAGE_LARGER_THAN_BOX = 0xC603
    INSUFFICIENT_MEMORY = 0xC605
    COMBINED_IMAGE_LARGER_THAN_BOX = 0xC613
    UNPRINTED_FILM_BOX_EXISTS = 0xC616

    @property
    def is_warning(self) -> bool:
        # PS3.7 C.1: 0001, Bxxx, 0107 and 0116 are warnings
        return self in (Status.ATTRIBUTE_LIST_ERROR, Status.ATTRIBUTE_VALUE_OUT_OF_RANGE) or (0xB000 <= self <= 0xBFFF)

    @property
    def is_failure(self) -> bool:
        return self != Status.SUCCESS and not self.is_warning

    def __str__(self) -> str:
        return f"0x{self.value:04X} {self.name}"
