"""Metadata that makes a table readable in the Dagster UI: size, schema and a preview."""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import dagster as dg
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PREVIEW_ROWS = 10


def table_schema(frame: pd.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(
        columns=[dg.TableColumn(name=str(name), type=str(dtype)) for name, dtype in frame.dtypes.items()]
    )


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
