"""A Pool of W workers maps the identity over 0..N with the default chunk
size, three times (best of three, as on the Rhai side). Pool start-up is not
timed (a warm-up map runs first). argv: N W. Prints items/s."""
import sys

from common import result, setup, timed_identity_map


def main():
    result("items_per_s", timed_identity_map(int(sys.argv[1]), int(sys.argv[2]), rounds=3))


if __name__ == "__main__":
    setup()
    main()
