"""Command-line messages name what the user types: flags, folders, commands."""

from __future__ import annotations

import json

from click.testing import CliRunner

from engine.cli import main


def test_catalog_check_of_a_missing_folder_says_it_does_not_exist(tmp_path):
    missing = tmp_path / "nonexistent"
    result = CliRunner().invoke(main, ["catalog", "check", str(missing)])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{missing}: this folder does not exist; give a catalog folder (ideas.csv + schema.json) "
        "or an ideas CSV with schema.json beside it")
    assert "schema.json: schema file not found" not in result.output
    as_json = json.loads(CliRunner().invoke(main, ["catalog", "check", str(missing), "--json"]).output)
    assert [e["message"].split(";")[0] for e in as_json["errors"]] == ["this folder does not exist"]
    csv = CliRunner().invoke(main, ["catalog", "check", str(tmp_path / "ideas.csv")])
    assert "ideas.csv: this file does not exist;" in csv.output


def test_import_of_existing_couples_names_the_replace_flag(tmp_path, monkeypatch):
    monkeypatch.setenv("DATEIDEAS_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite3'}")
    folder = tmp_path / "data"
    assert CliRunner().invoke(main, ["simulate", "--couples", "6", "--seed", "1", "--out", str(folder)]).exit_code == 0
    first = CliRunner().invoke(main, ["import", str(folder), "--no-progress"])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, ["import", str(folder), "--no-progress"])
    assert again.exit_code == 1
    last = again.output.strip().splitlines()[-1]
    assert last.startswith(f"{folder}: 6 couple(s) already exist (")
    assert last.endswith("nothing was loaded. Run the import again with --replace to erase and reload them.")
    assert "replace=True" not in again.output
