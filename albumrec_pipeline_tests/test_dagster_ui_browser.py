"""The Dagster UI, opened in headless Chromium, shows albumrec's asset groups, lineage and asset pages.

Needs Debian's Chromium at /usr/bin/chromium (`.ci/run` installs it); Playwright drives it, and
no browser is downloaded. Without Chromium the test skips, except under CI, where it fails so a
missing browser cannot pass unnoticed.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

import dagster as dg
import pytest

from albumrec_pipeline.definitions import defs
from albumrec_pipeline_tests.dagster_server import RunningServer, dagster_webserver

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
GROUPS = ("ingest", "model", "recommend")
ASSET = "album_recommendations"
# One asset of each group whose name the zoomed-out graph shows in full (longer names are shortened).
GRAPH_NODES = ("raw_track_features", "preference_model", "track_scores")
# The slow part is the first render of the UI's bundle on a loaded two-core machine.
UI_TIMEOUT_MS = 60_000


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
                expect(page.get_by_text("Description", exact=True)).to_be_visible()
                expect(page.get_by_text(description).first).to_be_visible()
                expect(page.get_by_role("link", name="recommend", exact=True)).to_be_visible()
                # Upstream links carry their status icon's name too ("missing track_scores ..."): match the target.
                for upstream in ("candidate_albums", "track_scores"):
                    expect(page.locator(f'a[href$="/assets/{upstream}"]').first).to_be_visible()
                page.screenshot(path=asset_png)
                print(f"asset page screenshot: {asset_png}")
            except Exception:
                with contextlib.suppress(Exception):  # the page may be what failed
                    page.screenshot(path=failure_png)
                print(f"screenshot at the failure: {failure_png}\n{server.output(2000)}")
                raise
        finally:
            browser.close()
