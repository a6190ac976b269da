"""The Dagster UI, opened in headless Chromium, shows albumrec's asset groups, lineage and asset pages,
and on the album_recommendations page the latest ranking's top albums as a table, without a click.

Needs Debian's Chromium at /usr/bin/chromium (`.ci/run` installs it); Playwright drives it, and
no browser is downloaded. Without Chromium the test skips, except under CI, where it fails so a
missing browser cannot pass unnoticed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from albumrec_pipeline.assets.recommend import TOP_COLUMNS
from albumrec_pipeline.definitions import defs
from albumrec_pipeline_tests.dagster_server import RunningServer, dagster_webserver, write_dagster_home
from albumrec_pipeline_tests.pipeline_runs import definitions_for, ingest_every_partition, recommend_run_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests may run as root, where Chromium refuses its sandbox
    "--disable-gpu",
    # The machine has no route out: without these, Chromium keeps opening connections to Google's
    # services that are refused, and startup waits on some of them.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
VIEWPORT = {"width": 1600, "height": 1000}
# The asset page on a desktop screen: narrower, its metadata panel scrolls sideways to the table's
# last columns.
DESKTOP_VIEWPORT = {"width": 1920, "height": 1080}
GROUPS = ("ingest", "model", "recommend")
ASSET = "album_recommendations"
# One asset of each group whose name the zoomed-out graph shows in full (longer names are shortened).
GRAPH_NODES = ("raw_track_features", "preference_model", "track_scores")
# The slow part is the first render of the UI's bundle on a loaded two-core machine.
UI_TIMEOUT_MS = 60_000
# Where the asset page's screenshot is copied, to be looked at after the run.
PAGE_SCREENSHOT_COPY = Path("/tmp/album_recommendations_page.png")
# What the asset page needs: the ranking and what it is made from, not the reports.
RANKING_ASSETS = (
    "liked_tracks", "raw_track_features", "cleaned_dataset", "feature_scaler", "preference_model",
    "background_tracks", "recording_features", "candidate_albums", "candidate_track_features", "track_scores", "album_recommendations",
)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} not found: install Debian's chromium package (apt-get install chromium) for the UI test"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; under CI this test must run, not skip")
    pytest.skip(message)


def _description(asset: str) -> str:
    """The asset's description as the UI renders it: Markdown joins its lines with spaces."""
    graph = defs.resolve_asset_graph()
    return " ".join(graph.get(dg.AssetKey(asset)).description.split())


def _materialize_the_ranking(root: Path, dagster_home: Path) -> pd.DataFrame:
    """The small demo world ranked, recorded in the instance the webserver will serve; returns the
    recommended albums, best first."""
    from albumrec_pipeline.demo.world import DemoWorldSpec, build_demo_world, write_demo_world

    paths = write_demo_world(build_demo_world(DemoWorldSpec.small()), root / "world")
    pipeline = definitions_for(paths, root / "warehouse", root / "scratch")
    write_dagster_home(dagster_home)
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        assert all(run.success for run in ingest_every_partition(pipeline, instance))
        result = pipeline.resolve_job_def("recommend_albums").execute_in_process(
            run_config=recommend_run_config(paths.liked_tracks_path, root / "no_feedback.csv"),
            instance=instance,
            asset_selection=[dg.AssetKey(name) for name in RANKING_ASSETS],
        )
        assert result.success
    ranking = pd.read_parquet(root / "warehouse" / f"{ASSET}.parquet")
    return ranking[ranking["recommended"]].sort_values("rank")


def _mark_community_dialog_seen(server: RunningServer) -> None:
    # On a fresh instance served from localhost, the UI opens a "Join the Dagster community" dialog
    # a second after load, over the graph. The UI's own Skip button records this; doing it before
    # the page opens avoids racing the dialog's delay.
    answer = server.graphql("mutation { setNuxSeen }")
    assert answer.get("data", {}).get("setNuxSeen") is True, answer


@pytest.mark.timeout(300)
def test_asset_lineage_and_asset_page_in_the_dagster_ui(tmp_path):
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    description = _description(ASSET)
    lineage_png, selected_png, asset_png, failure_png = (
        tmp_path / "asset_lineage.png",
        tmp_path / "asset_lineage_selected.png",
        tmp_path / "album_recommendations.png",
        tmp_path / "failure.png",
    )
    recommended = _materialize_the_ranking(tmp_path / "pipeline", tmp_path / "server" / "dagster_home")
    assert len(recommended), "the demo ranking recommends no album to look for"
    best = recommended.iloc[0]
    with dagster_webserver(tmp_path / "server") as server, sync_playwright() as playwright:
        _mark_community_dialog_seen(server)
        # launch() gives every run a fresh, temporary profile.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            try:
                # Global asset lineage: every group of every code location, as collapsed group boxes.
                page.goto(f"{server.url}/asset-groups")
                expect(page.get_by_text("Global asset lineage", exact=True)).to_be_visible()
                graph = page.locator("svg:has(foreignObject)").first
                for group in GROUPS:
                    expect(graph.get_by_text(group, exact=True)).to_be_visible()

                # Open the groups in the graph the way a user does: the context menu of the graph's
                # background. The drawing is only as tall as its content, so the click goes to the
                # empty viewport below it, clear of the panel divider on its left.
                box = graph.bounding_box()
                assert box is not None
                page.mouse.click(box["x"] + 60, VIEWPORT["height"] - 40, button="right")
                toggle = page.get_by_role("menuitem", name=re.compile(r"(Expand|Collapse) all groups"))
                if "Expand" in toggle.inner_text():
                    toggle.click()
                else:  # whether groups start open is Dagster's default, which depends on the graph's size
                    page.keyboard.press("Escape")
                for node in GRAPH_NODES:
                    expect(graph.get_by_text(node, exact=True)).to_be_visible()
                page.screenshot(path=lineage_png)
                print(f"asset lineage screenshot: {lineage_png}")

                # The zoomed-out graph shortens long names, so find the asset with "Jump to…": it opens
                # the asset's group in the list beside the graph and the asset's details over the graph.
                page.get_by_role("combobox", name="Jump to…").fill(ASSET)
                page.get_by_text(ASSET, exact=True).first.click()
                expect(page).to_have_url(re.compile(rf"/asset-groups/{ASSET}\b"))
                expect(page.get_by_text(ASSET, exact=True).first).to_be_visible()
                expect(page.get_by_text(description).first).to_be_visible()
                catalog_link = page.get_by_role("link", name=re.compile("View in Asset Catalog"))
                expect(catalog_link).to_be_visible()
                page.screenshot(path=selected_png)
                print(f"selected asset screenshot: {selected_png}")

                # The asset's own page in the catalog: its description, group and neighbours.
                catalog_link.click()
                expect(page).to_have_url(re.compile(rf"/assets/{ASSET}\b"))
                # The section's heading; the column table below has a "Description" header of its own.
                expect(page.get_by_text("Description", exact=True).first).to_be_visible()
                expect(page.get_by_text(description).first).to_be_visible()
                expect(page.get_by_role("link", name="recommend", exact=True)).to_be_visible()
                # Upstream links carry their status icon's name too ("missing track_scores ..."): match the target.
                for upstream in ("candidate_albums", "track_scores"):
                    expect(page.locator(f'a[href$="/assets/{upstream}"]').first).to_be_visible()

                # The latest materialization's top recommendations: a table on the page itself,
                # with no "Show Markdown" to click first.
                page.set_viewport_size(DESKTOP_VIEWPORT)
                title_cell = page.locator("td", has_text=re.compile(rf"^{re.escape(best['album_title'])}$")).first
                title_cell.scroll_into_view_if_needed()
                expect(title_cell).to_be_visible()
                cells = title_cell.locator("xpath=ancestor::tr[1]").locator("td")
                expect(cells.nth(TOP_COLUMNS.index("album_artist"))).to_have_text(best["album_artist"])
                share = f"{round(float(best['predicted_liked_share']), 3):g}"  # as the UI writes 1.0: "1"
                expect(cells.nth(TOP_COLUMNS.index("predicted_liked_share"))).to_have_text(share)
                headers = title_cell.locator("xpath=ancestor::table[1]").locator("th")
                expect(headers).to_have_text(TOP_COLUMNS)
                page.screenshot(path=asset_png)
                shutil.copyfile(asset_png, PAGE_SCREENSHOT_COPY)
                print(f"asset page screenshot: {asset_png} (copied to {PAGE_SCREENSHOT_COPY})")
            except Exception:
                with contextlib.suppress(Exception):  # the page may be what failed
                    page.screenshot(path=failure_png)
                print(f"screenshot at the failure: {failure_png}\n{server.output(2000)}")
                raise
        finally:
            browser.close()
