from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lightemo_video.pipeline.outputs import write_json
from lightemo_video.pipeline.sinks import ParquetSink, Sink

SCHEMA = pa.schema([pa.field("a", pa.int64()), pa.field("b", pa.string())])


def test_appends_stream_into_one_file(tmp_path):
    path = tmp_path / "out.parquet"
    with ParquetSink(path, SCHEMA) as sink:
        sink.append(pa.table({"a": [1, 2], "b": ["x", "y"]}))
        assert not path.exists()  # nothing under the final name until closed
        sink.append(pd.DataFrame({"b": ["z"], "a": [3]}))
    assert pq.read_table(path).to_pydict() == {"a": [1, 2, 3], "b": ["x", "y", "z"]}
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]


def test_interrupted_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.parquet"
    with pytest.raises(KeyboardInterrupt):
        with ParquetSink(path, SCHEMA) as sink:
            sink.append(pa.table({"a": [1], "b": ["x"]}))
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_interrupted_rewrite_keeps_the_previous_file(tmp_path):
    path = tmp_path / "out.parquet"
    with ParquetSink(path, SCHEMA) as sink:
        sink.append(pa.table({"a": [1], "b": ["old"]}))
    with pytest.raises(RuntimeError):
        with ParquetSink(path, SCHEMA) as sink:
            sink.append(pa.table({"a": [2], "b": ["new"]}))
            raise RuntimeError("worker died")
    assert pq.read_table(path)["b"].to_pylist() == ["old"]


def test_schema_mismatch_raises(tmp_path):
    with pytest.raises(ValueError, match="do not match the schema"):
        with ParquetSink(tmp_path / "x.parquet", SCHEMA) as sink:
            sink.append(pa.table({"a": [1]}))
    with pytest.raises(ValueError, match="do not fit the schema"):
        with ParquetSink(tmp_path / "x.parquet", SCHEMA) as sink:
            sink.append(pa.table({"a": ["not a number"], "b": ["x"]}))
    assert list(tmp_path.iterdir()) == []


def test_write_json_is_atomic(tmp_path):
    write_json(tmp_path / "run.json", {"status": "ok"})
    assert (tmp_path / "run.json").read_text().startswith("{")
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_parquet_sink_is_a_sink_published_by_commit(tmp_path):
    """The stage loop only appends and commits, so another store is one more class."""
    path = tmp_path / "out.parquet"
    sink: Sink = ParquetSink(path, SCHEMA).__enter__()
    assert isinstance(sink, Sink)
    sink.append(pa.table({"a": [1], "b": ["x"]}))
    assert not path.exists()
    sink.commit()
    assert pq.read_table(path).to_pydict() == {"a": [1], "b": ["x"]}
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]
