"""Group `model`: the training table, the scaler, the network and what it learned."""

import math

import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.core.dataset import clean_dataset
from albumrec_pipeline.core.feature_columns import LABEL_COLUMN, encoded_feature_columns
from albumrec_pipeline.core.model_artifacts import FittedScaler, TrainedPreferenceModel
from albumrec_pipeline.core.plots import training_curves_figure
from albumrec_pipeline.core.previews import figure_markdown, markdown_preview
from albumrec_pipeline.core.training import TrainingSettings, classification_metrics, train_preference_network
from albumrec_pipeline.core.weight_reports import WeightReports, weight_report_tables

GROUP = "model"


class SplitConfig(dg.Config):
    test_size: float = Field(default=0.2, description="Share of artists held out for the final test.")
    validation_size: float = Field(default=0.15, description="Share of artists used for early stopping.")
    split_salt: str = Field(default="albumrec", description="Change to draw a different artist split.")


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def cleaned_dataset(
    context: dg.AssetExecutionContext, config: SplitConfig, raw_track_features: pd.DataFrame
) -> pd.DataFrame:
    """Deduplicated, complete, encoded rows with a `split` column grouped by artist.

    Every track of an artist lands in the same split (train / validation / test), so held-out
    figures measure taste on unseen artists rather than recognition of known ones.
    """
    table, removed = clean_dataset(raw_track_features, config.test_size, config.validation_size, config.split_salt)
    counts = table.groupby("split").agg(rows=("mbid", "size"), artists=("artist", "nunique"), liked_share=(LABEL_COLUMN, "mean"))
    context.add_output_metadata(
        {
            **{f"removed_{reason}": count for reason, count in removed.items()},
            "split_summary": dg.MetadataValue.md(counts.reset_index().to_markdown(index=False, floatfmt=".3f")),
            "feature_columns": len(encoded_feature_columns()),
        }
    )
    return table


@dg.asset(group_name=GROUP, kinds={"scikit-learn", "parquet"}, code_version="1")
def feature_scaler(context: dg.AssetExecutionContext, cleaned_dataset: pd.DataFrame) -> FittedScaler:
    """MinMaxScaler fitted on the training split only (`scaler.joblib`); its parameters as the table."""
    train = cleaned_dataset[cleaned_dataset["split"] == "train"]
    context.add_output_metadata({"fitted_on_rows": len(train)})
    return FittedScaler.fit(train[encoded_feature_columns()])


class TrainingConfig(dg.Config):
    epochs: int = Field(default=1000, description="Maximum passes over the training rows.")
    batch_size: int = Field(default=32, description="Rows per optimiser step.")
    learning_rate: float = Field(default=1e-3, description="Adam step size.")
    weight_decay: float = Field(default=1e-4, description="Adam weight decay (L2 regularisation).")
    evaluate_every: int = Field(default=10, description="Evaluate train and validation loss every N epochs.")
    early_stopping_patience: int = Field(
        default=10, description="Stop after N evaluations without a better validation loss (0: never stop early)."
    )
    hidden_sizes: list[int] = Field(default=[64, 32, 16], description="Hidden layer widths (original: 64, 32, 16).")
    dropout: float = Field(default=0.2, description="Dropout after each hidden layer.")
    seed: int = Field(default=0, description="Seed for weight initialisation and batch order.")

    def settings(self) -> TrainingSettings:
        return TrainingSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            learning_rate=self.learning_rate,
            weight_decay=self.weight_decay,
            evaluate_every=self.evaluate_every,
            early_stopping_patience=self.early_stopping_patience,
            hidden_sizes=tuple(self.hidden_sizes),
            dropout=self.dropout,
            seed=self.seed,
        )


@dg.asset(group_name=GROUP, kinds={"pytorch", "parquet"}, code_version="1")
def preference_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    cleaned_dataset: pd.DataFrame,
    feature_scaler: FittedScaler,
) -> TrainedPreferenceModel:
    """The feed-forward taste network (`song_pref_model_weights.pth`), trained with BCE and Adam.

    Early stopping watches the validation artists; the test artists are scored once, after
    training, and that score is the one reported. The table is the loss/accuracy history.
    """
    columns = feature_scaler.feature_columns
    parts = {name: cleaned_dataset[cleaned_dataset["split"] == name] for name in ("train", "validation", "test")}
    for name, part in parts.items():
        if part[LABEL_COLUMN].nunique() < 2:
            raise ValueError(f"the {name} split has {len(part)} rows and not both labels; add tracks or change the split")
    outcome = train_preference_network(
        feature_scaler.transform(parts["train"][columns]),
        parts["train"][LABEL_COLUMN].to_numpy(),
        feature_scaler.transform(parts["validation"][columns]),
        parts["validation"][LABEL_COLUMN].to_numpy(),
        config.settings(),
        progress=context.log.info,
    )
    for note in outcome.notes:
        context.log.info(note)
    model = TrainedPreferenceModel(outcome.network, columns, outcome.history)
    test = classification_metrics(
        parts["test"][LABEL_COLUMN].to_numpy(), model.like_probability(feature_scaler.transform(parts["test"][columns]))
    )
    model.metrics = {f"test_{name}": value for name, value in test.items()} | {"best_epoch": outcome.best_epoch}
    context.add_output_metadata(
        {
            "test_accuracy": test["accuracy"],
            "test_roc_auc": None if math.isnan(test["roc_auc"]) else test["roc_auc"],
            "test_log_loss": test["log_loss"],
            "test_rows": test["rows"],
            "best_epoch": outcome.best_epoch,
            "epochs_run": outcome.epochs_run,
            "training_seconds": round(outcome.seconds, 2),
            "architecture": " -> ".join(str(width) for width in [len(columns), *config.hidden_sizes, 1]),
            "training_curves": figure_markdown(training_curves_figure(outcome.history, outcome.best_epoch)),
        }
    )
    return model


@dg.asset(group_name=GROUP, kinds={"pandas", "parquet"}, code_version="1")
def weight_reports(context: dg.AssetExecutionContext, preference_model: TrainedPreferenceModel) -> WeightReports:
    """What the network learned: per-layer weights, biases and mean-|w| importance (normalised),
    the first layer's importance grouped by feature family, and its top-10 features."""
    reports = WeightReports(weight_report_tables(preference_model.network, preference_model.feature_columns))
    context.add_output_metadata(
        {
            "grouped_importance": dg.MetadataValue.md(markdown_preview(reports.tables["grouped_importance"])),
            "top_features": dg.MetadataValue.md(markdown_preview(reports.tables["top_features"])),
        }
    )
    return reports
