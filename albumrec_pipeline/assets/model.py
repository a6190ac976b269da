"""Group `model`: the training table, the scaler, the network and what it learned."""


import dagster as dg
import pandas as pd
from pydantic import Field

from albumrec_pipeline.assets.background import TASTE_MODE_KEY
from albumrec_pipeline.assets.ingest import INPUT_FINGERPRINT_KEY
from albumrec_pipeline.automation import UPDATE_WHEN_UPSTREAM_CHANGES
from albumrec_pipeline.core.dataset import SPLITS, clean_dataset
from albumrec_pipeline.core.evaluation import (
    ALBUMREC_RECIPE,
    ARTIST_POOLING,
    ORIGINAL_RECIPE,
    ModelInputs,
    NetworkRecipe,
    cross_validate_table,
    evaluation_report,
    pool_by_artist,
)
from albumrec_pipeline.core.evaluation_report import EvaluationReport
from albumrec_pipeline.core.feature_columns import LABEL_COLUMN, encoded_feature_columns
from albumrec_pipeline.core.feature_labels import (
    GROUP_LABELS,
    group_label,
    with_feature_labels,
)
from albumrec_pipeline.core.feature_sets import (
    AUTO,
    CANDIDATE_COVERAGE_KEY,
    choose_feature_set,
    complete_rows,
    feature_set_columns,
)
from albumrec_pipeline.core.liked_only import (
    BACKGROUND,
    LIKED_ONLY,
    ROW_ROLE_COLUMN,
    SUPERVISED,
    background_liked_share,
    label_frequency,
    recall_at_top,
)
from albumrec_pipeline.core.model_artifacts import (
    FittedScaler,
    TrainedPreferenceModel,
    dataset_digest,
)
from albumrec_pipeline.core.model_guard import ModelGuardConfig, enforce_model_guard
from albumrec_pipeline.core.plots import (
    calibration_figure,
    fold_loss_curves_figure,
    group_importance_figure,
    roc_figure,
    training_curves_figure,
)
from albumrec_pipeline.core.previews import figure_markdown, metadata_table, rounded
from albumrec_pipeline.core.tags import TagVocabulary, display_name
from albumrec_pipeline.core.training import (
    TrainingSettings,
    classification_metrics,
    train_ensemble,
)
from albumrec_pipeline.core.weight_reports import WeightReports, weight_report_tables
from albumrec_pipeline.recorded import latest_metadata

GROUP = "model"
LIKED_TRACKS = dg.AssetKey("liked_tracks")
CLEANED_DATASET = dg.AssetKey("cleaned_dataset")
# model_evaluation's metadata: the fingerprint of the list (and feedback) it cross-validated.
EVALUATED_LIST_KEY = "evaluated_list_sha256"


def current_list_fingerprint(instance: dg.DagsterInstance) -> str | None:
    """The fingerprint the latest liked_tracks materialization recorded of the list and feedback it
    read, or None when there is none (never materialized, or by an albumrec that did not record it)."""
    fingerprint = (latest_metadata(instance, LIKED_TRACKS) or {}).get(INPUT_FINGERPRINT_KEY)
    return None if fingerprint is None else str(fingerprint.value)


def list_behind_the_dataset(instance: dg.DagsterInstance) -> str | None:
    """The fingerprint of the list the latest cleaned_dataset derives from: the latest liked_tracks
    materialization's, when cleaned_dataset was materialized after it. None when the list was read
    again since (a refresh that stopped before cleaned_dataset): the dataset is of an earlier list."""
    # Storage ids order the events strictly; two timestamps can be equal.
    latest = {key: instance.fetch_materializations(key, limit=1).records for key in (LIKED_TRACKS, CLEANED_DATASET)}
    if not latest[CLEANED_DATASET] or not latest[LIKED_TRACKS]:
        return None
    if latest[CLEANED_DATASET][0].storage_id < latest[LIKED_TRACKS][0].storage_id:
        return None
    return current_list_fingerprint(instance)


def candidate_coverage(instance: dg.DagsterInstance) -> dict[str, float] | None:
    """The share of candidate recordings each feature set covered in the latest candidate search,
    None before the first one (the `auto` choice then goes by the labelled recordings alone)."""
    recorded = (latest_metadata(instance, "candidate_track_features") or {}).get(CANDIDATE_COVERAGE_KEY)
    return None if recorded is None else {str(name): float(share) for name, share in dict(recorded.value).items()}


class SplitConfig(dg.Config):
    test_size: float = Field(default=0.2, description="Share of artists held out for the final test.")
    validation_size: float = Field(default=0.15, description="Share of artists used for early stopping.")
    split_salt: str = Field(default="albumrec", description="Change to draw a different artist split.")


@dg.asset(
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    code_version="1",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def cleaned_dataset(
    context: dg.AssetExecutionContext,
    config: SplitConfig,
    raw_track_features: pd.DataFrame,
    background_tracks: pd.DataFrame,
) -> pd.DataFrame:
    """Deduplicated, complete, encoded rows with a `split` column grouped by artist.

    Every track of an artist lands in the same split (train / validation / test), so held-out
    figures measure taste on unseen artists rather than recognition of known ones. In the
    liked-only mode the catalog background (`background_tracks`) joins the listener's rows, as
    negatives, marked `row_role` = background.
    """
    table, removed = clean_dataset(
        raw_track_features, config.test_size, config.validation_size, config.split_salt, background_tracks
    )
    mode = LIKED_ONLY if (table[ROW_ROLE_COLUMN] == BACKGROUND).any() else SUPERVISED
    counts = table.groupby("split").agg(rows=("mbid", "size"), artists=("artist", "nunique"), liked_share=(LABEL_COLUMN, "mean"))
    context.add_output_metadata(
        {
            TASTE_MODE_KEY: mode,
            "background_rows": int((table[ROW_ROLE_COLUMN] == BACKGROUND).sum()),
            **{f"removed_{reason}": count for reason, count in removed.items()},
            "split_summary": dg.MetadataValue.md(counts.reset_index().to_markdown(index=False, floatfmt=".3f")),
            "feature_columns": len(encoded_feature_columns()),
        }
    )
    return table


class FeatureScalerConfig(dg.Config):
    method: str = Field(
        default=ALBUMREC_RECIPE.scaling,
        description="Input scaling: minmax (the original), standard, quantile, or piecewise[:bins] "
        "(piecewise-linear encoding over training-quantile bins, albumrec's default).",
    )
    feature_set: str = Field(
        default=AUTO,
        description="Model inputs, named by what they need: full (low- and high-level JSON), highlevel+compact "
        "(high-level JSON + the CSV feature dumps), compact (the CSV feature dumps), all (full + one-hot keys, the "
        "original's), or auto: the richest set that covers 90% of the labelled recordings.",
    )
    tags: bool = Field(
        default=True,
        description="Add genre tags (the file's genre tag and MusicBrainz tags, normalised to MusicBrainz genres) as inputs.",
    )
    min_tag_artists: int = Field(
        default=2, description="A tag becomes an input when at least this many training artists carry it."
    )


@dg.asset(
    group_name=GROUP,
    kinds={"scikit-learn", "parquet"},
    code_version="3",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def feature_scaler(
    context: dg.AssetExecutionContext, config: FeatureScalerConfig, cleaned_dataset: pd.DataFrame
) -> FittedScaler:
    """The input scaling and the genre-tag vocabulary, fitted on the training split only
    (`scaler.joblib`); the table lists each feature with its training minimum, maximum and mean and
    the scaling method. The metadata says which feature set it chose and why, and which tags it reads."""
    choice = choose_feature_set(config.feature_set, cleaned_dataset, candidate_coverage(context.instance))
    columns = feature_set_columns(choice.name)
    usable = cleaned_dataset[complete_rows(cleaned_dataset, columns)]
    train = usable[usable["split"] == "train"]
    if train.empty:
        raise dg.Failure(
            description=f"no training row has every feature of the {choice.name!r} feature set ({choice.reason}); "
            "choose another feature_set, or ingest the dumps that set needs"
        )
    tags = TagVocabulary.fit(train, train["artist"].to_numpy(), config.min_tag_artists) if config.tags else None
    scaler = FittedScaler.fit(train[columns], config.method, tags)
    coverage = {name: rounded(share) for name, share in choice.labelled_coverage.items()}
    context.add_output_metadata(
        {
            "fitted_on_rows": len(train),
            "method": config.method,
            "feature_set": choice.name,
            "feature_set_reason": choice.reason,
            "labelled_coverage_by_feature_set": dg.MetadataValue.json(coverage),
            **(
                {"candidate_coverage_by_feature_set": dg.MetadataValue.json(choice.candidate_coverage)}
                if choice.candidate_coverage is not None
                else {}
            ),
            "network_inputs": len(scaler.input_names),
            "tag_terms": 0 if tags is None else len(tags.terms),
            "tag_vocabulary": ", ".join(display_name(term) for term in (tags.terms if tags else ()))[:2000] or "(none)",
        }
    )
    return scaler


# The recipe's values are defined once, in core (ALBUMREC_RECIPE); the Launchpad's defaults are them.
_RECIPE, _ORIGINAL = ALBUMREC_RECIPE.settings, ORIGINAL_RECIPE.settings


class TrainingConfig(dg.Config):
    epochs: int = Field(default=_RECIPE.epochs, description="Maximum passes over the training rows.")
    batch_size: int = Field(default=_RECIPE.batch_size, description="Rows per optimiser step.")
    learning_rate: float = Field(default=_RECIPE.learning_rate, description="Adam step size.")
    weight_decay: float = Field(
        default=_RECIPE.weight_decay, description=f"Adam weight decay (the original: {_ORIGINAL.weight_decay:g})."
    )
    evaluate_every: int = Field(default=_RECIPE.evaluate_every, description="Evaluate train and validation loss every N epochs.")
    early_stopping_patience: int = Field(
        default=_RECIPE.early_stopping_patience,
        description="Stop after N evaluations without a better validation loss (0: never stop early).",
    )
    hidden_sizes: list[int] = Field(
        default=list(_RECIPE.hidden_sizes),
        description=f"Hidden layer widths (the original: {', '.join(map(str, _ORIGINAL.hidden_sizes))}).",
    )
    dropout: float = Field(default=_RECIPE.dropout, description=f"Dropout after each hidden layer (the original: {_ORIGINAL.dropout:g}).")
    input_dropout: float = Field(default=_RECIPE.input_dropout, description="Dropout on the inputs (the original: none).")
    artist_weighting: float = Field(
        default=ALBUMREC_RECIPE.artist_weighting,
        description="Weigh tracks by 1/(artist's track count)^x: 0 tracks equal, 1 artists equal.",
    )
    refit_on_train_and_validation: bool = Field(
        default=ALBUMREC_RECIPE.refit_on_all_rows,
        description="After early stopping, retrain on train + validation rows for the chosen epochs.",
    )
    ensemble_size: int = Field(
        default=ALBUMREC_RECIPE.ensemble_size,
        description="Networks trained with different seeds; predictions average them (the original: 1).",
        ge=1,
    )
    seed: int = Field(default=_RECIPE.seed, description="Seed for weight initialisation and batch order.")
    artist_pooling: float = Field(
        default=ARTIST_POOLING,
        description="Pool each track's score with its artist's other tracks in the same scored set: (1-w)*own + "
        "w*artist mean (0: off). Labels are nearly pure per artist; see the README's model section.",
        ge=0.0,
        le=1.0,
    )
    guard: ModelGuardConfig = Field(
        default_factory=ModelGuardConfig,
        description="Refuse a model no better than guessing, or clearly behind logistic regression, on the test artists.",
    )

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
            input_dropout=self.input_dropout,
            seed=self.seed,
        )

    def recipe(self, scaling: str) -> NetworkRecipe:
        return NetworkRecipe(
            self.settings(), scaling, self.ensemble_size, artist_weighting=self.artist_weighting,
            refit_on_all_rows=self.refit_on_train_and_validation,
        )


@dg.asset(
    group_name=GROUP,
    kinds={"pytorch", "parquet"},
    code_version="3",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def preference_model(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    cleaned_dataset: pd.DataFrame,
    feature_scaler: FittedScaler,
) -> TrainedPreferenceModel:
    """The feed-forward taste network (`song_pref_model_weights.pth`), trained with BCE and Adam.

    The file carries the scaler fit it was trained with, and scoring and explanations use that
    fit: a run that refits `feature_scaler` and then fails leaves this model whole and usable.

    Early stopping watches the validation artists; the test artists are scored once, after
    training, and that score is the one reported. The table is the loss/accuracy history.
    """
    # The rows the scaler's feature set covers; the others lack a feature the network reads.
    usable = cleaned_dataset[complete_rows(cleaned_dataset, feature_scaler.feature_columns)]
    parts = {name: usable[usable["split"] == name] for name in SPLITS}
    for name, part in parts.items():
        if part[LABEL_COLUMN].nunique() < 2:
            raise ValueError(f"the {name} split has {len(part)} rows and not both labels; add tracks or change the split")
    scaled = {name: feature_scaler.transform(part) for name, part in parts.items()}
    context.log.info(f"training {config.ensemble_size} networks together")
    training = train_ensemble(
        scaled["train"],
        parts["train"][LABEL_COLUMN].to_numpy(),
        parts["train"]["artist"].to_numpy(),
        scaled["validation"],
        parts["validation"][LABEL_COLUMN].to_numpy(),
        parts["validation"]["artist"].to_numpy(),
        config.settings(),
        ensemble_size=config.ensemble_size,
        artist_weighting=config.artist_weighting,
        refit_on_all_rows=config.refit_on_train_and_validation,
        progress=context.log.debug,
    )
    for note in training.notes:
        context.log.info(note)
    outcome = training.members[0]
    liked_only = bool((usable[ROW_ROLE_COLUMN] == BACKGROUND).any())
    calibration = None
    if liked_only:
        # c from the validation artists' liked tracks, scored by the early-stopped networks (which never
        # trained on them), averaged over the ensemble as the final scores are.
        held_out = training.validation_probability()
        calibration = label_frequency(held_out[parts["validation"][LABEL_COLUMN].to_numpy() == 1])
    model = TrainedPreferenceModel(
        outcome.network, feature_scaler.feature_columns, training.history, input_names=feature_scaler.input_names,
        more_networks=training.networks[1:], feature_schema=feature_scaler.feature_schema,
        scaler=feature_scaler, dataset_digest=dataset_digest(cleaned_dataset), artist_pooling=config.artist_pooling,
        liked_only_calibration=calibration,
    )
    test_probability = pool_by_artist(model.like_probability(scaled["test"]), parts["test"]["artist"].to_numpy(), config.artist_pooling)
    test = classification_metrics(parts["test"][LABEL_COLUMN].to_numpy(), test_probability)
    model.metrics = {f"test_{name}": value for name, value in test.items()} | {"best_epoch": outcome.best_epoch}
    mode_figures = {TASTE_MODE_KEY: LIKED_ONLY if liked_only else SUPERVISED}
    if liked_only:
        test_roles = parts["test"][ROW_ROLE_COLUMN].to_numpy()
        test_labels = parts["test"][LABEL_COLUMN].to_numpy()
        model.metrics["test_recall_at_top_1pct"] = recall_at_top(
            test_probability[test_labels == 1], test_probability[test_roles == BACKGROUND]
        )
        background_rows = int((usable[ROW_ROLE_COLUMN] == BACKGROUND).sum())
        liked_rows = int((usable[LABEL_COLUMN] == 1).sum())
        mode_figures |= {
            "liked_only_calibration": rounded(calibration),
            "test_recall_at_top_1pct": rounded(model.metrics["test_recall_at_top_1pct"]),
            "estimated_liked_share_of_catalog": rounded(background_liked_share(calibration, liked_rows, background_rows)),
        }
    # Without a refit the history is all early stopping and has no phase column.
    history = outcome.history
    early_history = history[history["phase"] == "early_stopping"] if "phase" in history else history
    epochs_chosen = [result.best_epoch for result in training.members]
    context.add_output_metadata(
        {
            **mode_figures,
            "test_accuracy": rounded(test["accuracy"]),
            "test_roc_auc": rounded(test["roc_auc"]),
            "test_log_loss": rounded(test["log_loss"]),
            "test_rows": test["rows"],
            "best_epoch": outcome.best_epoch,
            "best_epochs_per_member": ", ".join(map(str, epochs_chosen)),
            "ensemble_size": len(training.members),
            "training_seconds": rounded(training.seconds, 1),
            "architecture": " -> ".join(str(width) for width in [len(model.input_names), *config.hidden_sizes, 1]),
            "training_curves": figure_markdown(training_curves_figure(early_history, outcome.best_epoch)),
        }
    )
    enforce_model_guard(context, config, model, parts, scaled)
    return model


@dg.asset(
    group_name=GROUP,
    kinds={"pandas", "parquet"},
    code_version="4",
    automation_condition=UPDATE_WHEN_UPSTREAM_CHANGES,
)
def weight_reports(context: dg.AssetExecutionContext, preference_model: TrainedPreferenceModel) -> WeightReports:
    """What the network learned: per-layer weights, biases and mean-|w| importance (normalised),
    the first layer's importance per feature and grouped by feature family, and its top-10 features."""
    inputs = preference_model.input_names or preference_model.feature_columns
    reports = WeightReports(weight_report_tables(preference_model.networks, inputs))
    grouped = reports.tables["grouped_importance"]
    context.add_output_metadata(
        {
            "top_features": metadata_table(
                reports.tables["top_features"][["rank", "label", "feature", "group", "normalized_importance"]]
            ),
            "grouped_importance": metadata_table(grouped.assign(label=grouped["group"].map(group_label))),
        }
    )
    return reports


class ModelEvaluationConfig(dg.Config):
    folds: int = Field(default=5, description="Cross-validation folds.")
    seed: int = Field(default=0, description="Seed of the fold assignment.")
    include_recording_grouped: bool = Field(
        default=True, description="Also report folds grouped by recording only, as the original project measured."
    )
    include_original_network: bool = Field(default=True, description="Also evaluate the original network recipe.")
    network: TrainingConfig = Field(
        default_factory=TrainingConfig, description="The network recipe to evaluate (as preference_model's config)."
    )


@dg.asset(group_name=GROUP, kinds={"pytorch", "scikit-learn", "parquet"}, code_version="2")
def model_evaluation(
    context: dg.AssetExecutionContext,
    config: ModelEvaluationConfig,
    cleaned_dataset: pd.DataFrame,
    feature_scaler: FittedScaler,
) -> EvaluationReport:
    """K-fold cross-validation grouped by artist (and by recording, for comparison): the network as
    configured, the original recipe, logistic regression and HistGradientBoosting on identical folds.
    Accuracy, ROC-AUC, log loss, precision, recall, confusion matrix and calibration, with plots.
    Records the fingerprint of the list it evaluated; its check warns once the list has changed."""
    recipes = {"network": config.network.recipe(feature_scaler.method)}
    if config.include_original_network:
        recipes["original_network"] = ORIGINAL_RECIPE
    groupings = ("artist", "recording") if config.include_recording_grouped else ("artist",)
    tags = feature_scaler.tags
    network_inputs = ModelInputs(
        tuple(feature_scaler.feature_columns), tags=tags is not None, min_tag_artists=tags.min_artists if tags else 2
    )
    columns = {"network": network_inputs, "original_network": feature_set_columns("all")}
    # Every model is judged on the same rows: those that hold every input each of them reads.
    read = sorted({column for inputs in columns.values() for column in ModelInputs.of(inputs).columns})
    table = cleaned_dataset[complete_rows(cleaned_dataset, read)]
    result = cross_validate_table(
        table, recipes, columns, baseline_columns=network_inputs,
        folds=config.folds, seed=config.seed, groupings=groupings, progress=context.log.info,
    )
    report = evaluation_report(result, config.network.artist_pooling)
    importance = with_feature_labels(report.tables["permutation_importance"])
    report.tables["permutation_importance"] = importance
    evaluated_list = list_behind_the_dataset(context.instance)
    context.add_output_metadata(
        {
            "summary": metadata_table(report.tables["summary"]),
            "permutation_importance_top10": metadata_table(
                importance[["feature", "label", "group", "auc_drop", "auc_drop_std_over_folds"]].head(10)
            ),
            # The list behind these figures: the check on this asset warns once the list has changed.
            **({EVALUATED_LIST_KEY: evaluated_list} if evaluated_list else {}),
            "importance_by_group": figure_markdown(group_importance_figure(importance, GROUP_LABELS)),
            "roc": figure_markdown(roc_figure(report.tables["roc"])),
            "calibration": figure_markdown(calibration_figure(report.tables["calibration"])),
            "validation_loss_curves": figure_markdown(fold_loss_curves_figure(report.tables["training_histories"])),
        }
    )
    return report
