"""opujax.interrupts: a signal raises at once outside the loop, is noted inside it, and a
second one ends the process at once."""

import os
import signal
import threading

import pytest

from opujax import interrupts
from opujax.errors import Interrupted


def test_outside_the_loop_a_signal_raises_at_once():
  with interrupts.Interrupts():
    with pytest.raises(Interrupted) as e:
      signal.raise_signal(signal.SIGTERM)
  assert (e.value.signum, e.value.step, e.value.exit_code) == (signal.SIGTERM, None, 143)


def test_in_the_loop_a_signal_is_noted_and_a_second_ends_the_process(monkeypatch, capfd):
  noted = []
  exits = []
  monkeypatch.setattr(os, "_exit", lambda status: exits.append(status))
  before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
  with interrupts.Interrupts(notify=noted.append) as caught, caught.deferred():
    assert not caught.stop(3)
    signal.raise_signal(signal.SIGINT)
    assert caught.received == signal.SIGINT and noted == [signal.SIGINT] and caught.stop(4)
    assert exits == []
    signal.raise_signal(signal.SIGINT)
    assert exits == [130]
  assert "SIGINT again: stopped at once; rerun the same command" in capfd.readouterr().err
  assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_outside_the_main_thread_it_installs_nothing_and_raises_nothing():
  errors = []

  def enter():
    try:
      with interrupts.Interrupts() as caught, caught.deferred():
        assert not caught.stop(1)
    except BaseException as e:  # noqa: BLE001 - reported to the test's thread
      errors.append(e)

  before = signal.getsignal(signal.SIGINT)
  thread = threading.Thread(target=enter)
  thread.start()
  thread.join()
  assert errors == [] and signal.getsignal(signal.SIGINT) is before
