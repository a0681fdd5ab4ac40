"""test_fetch_kill.py — kill -9 at random moments of a small crawl (5 trials of 3 kills each),
restarting each time: the end state equals the uninterrupted crawl's (see tests/chaos/chaos_fetch.py;
the 20-trial version is tests/chaos/chaos_fetch.sh)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "chaos"))
import chaos_fetch  # noqa: E402
from harness import main, test  # noqa: E402


@test
def fetch_kill9_at_random_moments_resumes_to_same_end_state():
    chaos_fetch.run(trials=5, kills=3)


main()
