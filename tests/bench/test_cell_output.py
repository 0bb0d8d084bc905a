"""bench._cell_output: a cell's stdout and stderr are pipes of its own, relayed to the zygote's."""

import os

from bench._cell_output import fork_with_own_output


def test_a_child_writes_through_its_own_pipes_and_reads_back_nothing_of_the_parents_output(tmp_path):
    log = tmp_path / "harness.log"
    log.write_text("rows the harness wrote\n")
    pid = os.fork()
    if not pid:  # stands for the cell's init: its stdout and stderr are the harness's log
        fd = os.open(log, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        child = fork_with_own_output()
        if not child:  # the cell
            with open("/proc/self/fd/2", "rb", buffering=0) as again:  # a cheater's read-back: its own pipe, not the log
                os.set_blocking(again.fileno(), False)
                try:
                    seen = again.read(4096) or b""
                except BlockingIOError:
                    seen = b""
            os.write(1, b"out of the cell\n")
            os.write(2, b"err of the cell; harness's seen: %d\n" % (b"harness wrote" in seen))
            os._exit(0)
        os.waitpid(child, 0)
        os._exit(0)
    os.waitpid(pid, 0)
    text = log.read_text()
    assert "out of the cell" in text and "err of the cell; harness's seen: 0" in text, text


def test_the_relay_ends_with_the_child_not_with_what_it_left_holding_the_pipes():
    # The init copied the cell's pipes until they ended: a process the cell left behind, holding them, kept the
    # init (and so the zygote, waiting for it) waiting as long as it lived (review of d3c42de).
    import time

    pid = os.fork()
    if not pid:
        started = time.monotonic()
        child = fork_with_own_output()
        if not child:  # the cell: leaves a process that holds its stdout, and ends
            if not os.fork():
                time.sleep(30)
                os._exit(0)
            os._exit(0)
        os.waitpid(child, 0)
        os._exit(0 if time.monotonic() - started < 15 else 1)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
