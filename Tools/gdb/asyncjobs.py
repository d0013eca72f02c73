# SPDX-License-Identifier: Apache-2.0
"""gdb commands for swift-async-jobs: the paused jobs of every job pool of a live process or a
core file, with the backtrace of each suspended stack.

    gdb -x Tools/gdb/asyncjobs.py PROGRAM [CORE | -p PID]
    (gdb) asyncjobs-paused [MAX-FRAMES]

It needs only the symbol `_ajctx_debug` (in the library or the program that links it; no debug
information required): a process-wide list of pools and the offsets of the fields to read
(Sources/_CJobContext/include/job_context_debug.h). For each pool it prints the thread that owns it,
then each paused job: its C handle (the ASYNC_JOB *: the record's address with the job's generation
in the top 16 bits, Sources/AsyncJobs/Runtime/JobReference+OpaqueHandle.swift), its stack (size, guard page or
canary) and the frames found by following the frame pointers saved on its stack, named with
gdb's symbol tables (source lines where there is debug information) and Swift names demangled
with `swift demangle` when it is on the PATH. How long and how often a job paused is kept in the
library's Swift memory only: ask the process (JobPool.pausedJobs()) for those.

Core files: use the kernel's (ulimit -c unlimited). gdb's own generate-core-file reads each
mapping through /proc/PID/mem, which stops at the lightweight guard pages (Linux 6.13 and later)
that sit inside the job stacks' mapping, and writes zeros for the stacks.
"""
import shutil
import struct
import subprocess

import gdb

MAGIC = 0x4A41475542454401
# _ajctx_debug_info: magic, job_sp, stack_low, stack_size, guard_size, frame_fp, frame_pc, then the
# layout (record, state, generation, next_in_pool, paused_state, pool_first), then the pool list.
INFO_FIELDS = ("magic", "job_sp", "stack_low", "stack_size", "guard_size", "frame_fp", "frame_pc",
               "record", "state", "generation", "next_in_pool", "paused_state", "pool_first", "pools",
               "pause_entry_caller")


def read_u64(inferior, address):
    return struct.unpack("<Q", bytes(inferior.read_memory(address, 8)))[0]


def read_u8(inferior, address):
    return bytes(inferior.read_memory(address, 1))[0]


def debug_info_address():
    try:
        return int(gdb.parse_and_eval("(unsigned long)&_ajctx_debug"))
    except gdb.error:
        return None


def demangle(names):
    """Swift names through `swift demangle --simplified` (one process for all); others as they are."""
    tool = shutil.which("swift-demangle")
    command = [tool, "--simplified"] if tool else None
    if command is None and shutil.which("swift"):
        command = ["swift", "demangle", "--simplified"]
    swift_names = [n for n in names if n.startswith("$s") or n.startswith("_$s")]
    if not command or not swift_names:
        return {n: n for n in names}
    try:
        out = subprocess.run(command, input="\n".join(swift_names) + "\n", capture_output=True,
                             text=True, timeout=30).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return {n: n for n in names}
    table = {n: n for n in names}
    if len(out) == len(swift_names):
        table.update(zip(swift_names, out))
    return table


def describe(pc):
    """(symbol, offset, where) of the call before return address `pc`."""
    looked = pc - 1
    symbol, offset = None, None
    text = gdb.execute("info symbol 0x%x" % looked, to_string=True).strip()
    if not text.startswith("No symbol"):
        head = text.split(" in section ")[0]
        if " + " in head:
            symbol, offset = head.rsplit(" + ", 1)
            offset = int(offset) + 1
        else:
            symbol, offset = head, 1
    where = None
    sal = gdb.find_pc_line(looked)
    if sal.symtab is not None and sal.line:
        where = "%s:%d" % (sal.symtab.filename, sal.line)
    else:
        where = gdb.current_progspace().solib_name(looked)
    return symbol, offset, where


def backtrace(inferior, info, job, limit):
    low = read_u64(inferior, job + info["stack_low"])
    high = low + read_u64(inferior, job + info["stack_size"])
    sp = read_u64(inferior, job + info["job_sp"])
    if info["frame_pc"] == 0 or low == 0 or not (low <= sp < high):
        return []
    pcs = [read_u64(inferior, sp + info["frame_pc"])]
    fp = read_u64(inferior, sp + info["frame_fp"])
    # Suspended in the C library's assembly SAJ_pause_job (no frame of its own): its caller's
    # return address is on the stack above the saved frame.
    offset = info["pause_entry_caller"]
    if offset and sp + offset + 8 <= high:
        text = gdb.execute("info symbol 0x%x" % pcs[0], to_string=True)
        if text.startswith("SAJ_pause_job "):
            pcs.append(read_u64(inferior, sp + offset))
    # As the library's own walk (_ajctx_backtrace): stay inside the stack, stop when the frame
    # pointers stop climbing or a return address is null.
    while len(pcs) < limit and sp <= fp and fp % 8 == 0 and fp + 16 <= high:
        caller, ret = read_u64(inferior, fp), read_u64(inferior, fp + 8)
        if ret == 0:
            break
        pcs.append(ret)
        if caller <= fp:
            break
        fp = caller
    return pcs


class PausedJobs(gdb.Command):
    """List the paused jobs of every swift-async-jobs pool, with their backtraces.
Usage: asyncjobs-paused [MAX-FRAMES]   (default 32 frames per job)"""

    def __init__(self):
        super().__init__("asyncjobs-paused", gdb.COMMAND_STACK)

    def invoke(self, argument, from_tty):
        limit = int(argument) if argument.strip() else 32
        inferior = gdb.selected_inferior()
        base = debug_info_address()
        if base is None:
            print("asyncjobs: no _ajctx_debug symbol: the program does not use swift-async-jobs (or its library is not loaded yet)")
            return
        values = [read_u64(inferior, base + 8 * i) for i in range(len(INFO_FIELDS))]
        info = dict(zip(INFO_FIELDS, values))
        if info["magic"] != MAGIC:
            print("asyncjobs: _ajctx_debug has an unknown layout (magic 0x%x): a newer library than this script" % info["magic"])
            return
        threads = {t.ptid[1]: t.num for t in inferior.threads()}
        entry = info["pools"]
        pools = total = 0
        lines = []
        jobs = []
        while entry:
            pool = read_u64(inferior, entry + 16)
            tid = read_u64(inferior, entry + 24)
            pools += 1
            paused = []
            job = read_u64(inferior, pool + info["pool_first"])
            while job:
                record = job + info["record"]
                if read_u8(inferior, record + info["state"]) == info["paused_state"]:
                    paused.append(job)
                job = read_u64(inferior, record + info["next_in_pool"])
            thread = threads.get(tid)
            lines.append(("pool", "pool 0x%x of thread %s (LWP %d): %d paused job%s" % (
                pool, thread if thread is not None else "?", tid, len(paused), "" if len(paused) == 1 else "s")))
            for job in paused:
                total += 1
                size = read_u64(inferior, job + info["stack_size"])
                guarded = read_u64(inferior, job + info["guard_size"]) != 0
                # The handle the C library gave out for it (its tag saturates at 0xFFFF).
                generation = read_u64(inferior, job + info["record"] + info["generation"])
                handle = job | min(generation, 0xFFFF) << 48
                lines.append(("job", "  job 0x%x: stack %d KiB (%s)" % (handle, size // 1024, "guard page" if guarded else "canary")))
                for index, pc in enumerate(backtrace(inferior, info, job, limit)):
                    jobs.append((len(lines), index, pc))
                    lines.append(("frame", None))
            entry = read_u64(inferior, entry)
        described = {position: (index, pc, describe(pc)) for position, index, pc in jobs}
        names = demangle(sorted({d[2][0] for d in described.values() if d[2][0]}))
        print("asyncjobs: %d paused job%s in %d pool%s" % (total, "" if total == 1 else "s", pools, "" if pools == 1 else "s"))
        for position, (kind, text) in enumerate(lines):
            if kind != "frame":
                print(text)
                continue
            index, pc, (symbol, offset, where) = described[position]
            name = "%s + %d" % (names.get(symbol, symbol), offset) if symbol else "??"
            print("    #%-2d 0x%x %s%s" % (index, pc, name, " at " + where if where else ""))


PausedJobs()
