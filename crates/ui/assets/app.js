// komainu admin UI
