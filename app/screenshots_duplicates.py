"""The duplicates dialog with both kinds of group, for ``app.screenshots``: a sample photo
with a smaller recompressed copy (copies) and two frames of a burst, where something moved
between them (similar shots). Made through the window as a user would: add the folder,
wait for indexing, open *Duplicates*."""

from __future__ import annotations

import os
from pathlib import Path


def both_kinds_folder(folder: Path) -> Path:
    """A copy of one sample photo, and two burst frames of another (an object moved)."""
    from PIL import Image

    from resources import sample_photos

    folder.mkdir(parents=True, exist_ok=True)
    photos = sample_photos()
    with Image.open(photos[1]) as im:
        im = im.convert("RGB")
        im.save(folder / "holiday.jpg", quality=92)
        im.resize((im.width * 3 // 5, im.height * 3 // 5)).save(
            folder / "holiday-small.jpg", quality=70
        )
    with Image.open(photos[8]) as scene, Image.open(photos[6]) as thing:
        scene, thing = scene.convert("RGB"), thing.convert("RGB")
        thing = thing.resize((scene.width * 2 // 5, scene.height * 2 // 5))
        for i, x in enumerate((20, scene.width - thing.width - 20)):
            frame = scene.copy()
            frame.paste(thing, (x, scene.height // 3))
            frame.save(folder / f"burst-{i + 1}.jpg", quality=92)
    return folder


def duplicates_both_kinds(win, out: Path, wait, settle) -> Path:
    """Save ``8c-duplicates-both-kinds.png``: the dialog with a group of copies and a group
    of similar shots, the similar shots shown."""
    folder = both_kinds_folder(Path(os.environ["VISUAL_SEARCH_HOME"]) / "both-kinds")
    win.library_panel.index_folders([str(folder)])
    wait(win.library_panel.indexing_finished)
    win.show_duplicates()
    wait(win.duplicates.shown)
    dialog = win.duplicates.dialog
    dialog.resize(960, 620)
    if dialog.similar_list.count():
        dialog.similar_list.setCurrentRow(0)
    settle(2500)  # the thumbnails
    path = out / "8c-duplicates-both-kinds.png"
    dialog.grab().save(str(path))
    dialog.close()
    return path
