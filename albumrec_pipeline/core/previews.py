"""Metadata that makes a table readable in the Dagster UI: size, schema and a preview."""

from __future__ import annotations

import base64
import io
import math
from typing import TYPE_CHECKING, Any

import dagster as dg
import numpy as np
import pandas as pd

from albumrec_pipeline.core.column_docs import column_description

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.figure import Figure

PREVIEW_ROWS = 10


def described_schema(columns: list[tuple[str, str]]) -> dg.TableSchema:
    """A column schema of (name, type) pairs, each column described from `column_docs`."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=kind, description=column_description(name)) for name, kind in columns]
    )


def table_schema(frame: pd.DataFrame) -> dg.TableSchema:
    return described_schema([(str(name), str(dtype)) for name, dtype in frame.dtypes.items()])


def arrow_table_schema(schema: pa.Schema) -> dg.TableSchema:
    return described_schema([(field.name, str(field.type)) for field in schema])


def markdown_preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS, max_columns: int = 12) -> str:
    shown = frame.iloc[:rows, :max_columns]
    note = "" if frame.shape[1] <= max_columns else f"\n\n_{frame.shape[1] - max_columns} more columns not shown_"
    return shown.to_markdown(index=False, floatfmt=".4g") + note


def table_metadata(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "dagster/row_count": dg.MetadataValue.int(len(frame)),
        "dagster/column_schema": table_schema(frame),
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
    }


def figure_markdown(figure: Figure) -> dg.MetadataValue:
    """A matplotlib figure as an inline PNG the Dagster UI renders in the metadata panel."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
    return dg.MetadataValue.md(f"![plot](data:image/png;base64,{encoded})")


def rounded(value: float | None, digits: int = 3) -> float | None:
    """A metric as a plain float to the digits it means (None for a missing or NaN one): 16 digits
    of 0.7380191693290735 say nothing 0.738 does not."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else round(number, digits)


_TABLE_TYPES = {"b": "bool", "i": "int", "u": "int", "f": "float"}


def _cell(value: Any, digits: int) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return round(float(value), digits)
    return str(value)


def metadata_table(frame: pd.DataFrame, digits: int = 3) -> dg.MetadataValue:
    """`frame` as Dagster table metadata: the UI shows it as a table on the asset's page, with no
    click, where Markdown waits behind "Show Markdown". Floats are rounded to `digits`."""
    kinds = [_TABLE_TYPES.get(dtype.kind, "string") for dtype in frame.dtypes]
    columns = [str(name) for name in frame.columns]
    schema = described_schema(list(zip(columns, kinds, strict=True)))
    records = [
        dg.TableRecord({name: _cell(value, digits) for name, value in zip(columns, row, strict=True)})
        for row in frame.itertuples(index=False, name=None)
    ]
    return dg.MetadataValue.table(records=records, schema=schema)
