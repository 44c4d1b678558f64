"""The builtin set of real photos: natural colour photos that ship inside installed packages (scikit-image,
scikit-learn, matplotlib) and, when installed, the Debian wallpaper packages `mate-backgrounds` and
`lomiri-wallpapers-16.04`. Every candidate file is classified here (`BUILTIN_PHOTOS`, `EXCLUDED`) with a
reason, so the set is the same on every machine that has the same packages."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# scikit-image data files (in skimage/data/). Colour natural photos only.
SKIMAGE_PHOTOS = ("astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png")
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
MATPLOTLIB_PHOTOS = ("grace_hopper.jpg",)
MATE_PHOTOS = tuple(
    f"nature/{n}.jpg"
    for n in (
        "Aqua",
        "Blinds",
        "Dune",
        "FreshFlower",
        "Garden",
        "GreenMeadow",
        "LadyBird",
        "RainDrops",
        "Storm",
        "TwoWings",
        "Wood",
        "YellowFlower",
    )
)
LOMIRI_PHOTOS = (
    "Bridge_by_Sander_Klootwijk.jpg",
    "Dragonfly_by_Bolly.jpg",
    "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg",
    "Wine_by_Jakkub_Mede.jpg",
    "aitzgorri_by_Aitzol_Berasategi.jpg",
    "free_by_Peter_Nerlich.jpg",
    "friends_by_Aitzol_Berasategi.jpg",
    "greentock_by_Peter_Nerlich.jpg",
    "life_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg",
    "sunset_by_Aitzol_Berasategi.jpg",
)

# Files of the same sources that are NOT used, each with the reason (checked by eye).
EXCLUDED: dict[str, str] = {
    # scikit-image
    "skimage:brick.png": "grey-scale texture",
    "skimage:camera.png": "grey-scale",
    "skimage:cell.png": "grey-scale microscopy",
    "skimage:chessboard_GRAY.png": "synthetic pattern",
    "skimage:chessboard_RGB.png": "synthetic pattern",
    "skimage:clock_motion.png": "grey-scale, motion-blurred",
    "skimage:coins.png": "grey-scale",
    "skimage:color.png": "synthetic colour chart",
    "skimage:grass.png": "grey-scale texture",
    "skimage:gravel.png": "grey-scale texture",
    "skimage:horse.png": "binary silhouette",
    "skimage:hubble_deep_field.jpg": "astronomy, mostly black sky",
    "skimage:ihc.png": "microscopy (immunohistochemistry)",
    "skimage:logo.png": "logo",
    "skimage:microaneurysms.png": "grey-scale medical",
    "skimage:moon.png": "grey-scale",
    "skimage:motorcycle_right.png": "near-duplicate of motorcycle_left (stereo pair)",
    "skimage:page.png": "grey-scale text",
    "skimage:phantom.png": "synthetic phantom",
    "skimage:retina.jpg": "medical fundus image",
    "skimage:text.png": "grey-scale text",
    "skimage:no_time_for_that_tiny.gif": "animation",
    # matplotlib
    "matplotlib:logo2.png": "logo",
    "matplotlib:Minduka_Present_Blue_Pack.png": "clip-art drawing",
    # mate-backgrounds
    "mate-backgrounds:abstract/Arc-Colors-Transparent-Wallpaper.png": "abstract art (transparent)",
    "mate-backgrounds:abstract/Elephants.jpg": "abstract painting",
    "mate-backgrounds:abstract/Elephants_3840x2160.jpg": "abstract painting",
    "mate-backgrounds:abstract/Elephants_5640x3172.jpg": "abstract painting",
    "mate-backgrounds:abstract/Flow.png": "abstract art",
    "mate-backgrounds:abstract/Gulp.png": "abstract art",
    "mate-backgrounds:abstract/Silk.png": "abstract art",
    "mate-backgrounds:abstract/Spring.png": "abstract art",
    "mate-backgrounds:abstract/Waves.png": "abstract art",
    "mate-backgrounds:desktop/Float-into-MATE.png": "logo on a gradient",
    "mate-backgrounds:desktop/GreenTraditional.jpg": "logo",
    "mate-backgrounds:desktop/MATE-Stripes-Dark.png": "flat stripes",
    "mate-backgrounds:desktop/MATE-Stripes-Light.png": "flat stripes",
    "mate-backgrounds:desktop/Stripes.png": "grey stripes",
    "mate-backgrounds:desktop/Ubuntu-Mate-Cold-no-logo.png": "rendered abstract blur",
    "mate-backgrounds:desktop/Ubuntu-Mate-Dark-no-logo.png": "rendered abstract blur",
    "mate-backgrounds:desktop/Ubuntu-Mate-Radioactive-no-logo.png": "rendered abstract blur",
    "mate-backgrounds:desktop/Ubuntu-Mate-Warm-no-logo.png": "rendered abstract blur",
    # lomiri-wallpapers-16.04
    "lomiri-wallpapers-16.04:analogpattern_by_Peter_Nerlich.jpg": "abstract colour texture",
    "lomiri-wallpapers-16.04:umang_by_Abhishek_Mudgal.jpg": "abstract gradient art",
}

DPKG_INFO = Path("/var/lib/dpkg/info")
WALLPAPER_PACKAGES = {
    # package -> (folder its photos live in, photos relative to that folder)
    "mate-backgrounds": ("/usr/share/backgrounds/mate", MATE_PHOTOS),
    "lomiri-wallpapers-16.04": ("/usr/share/backgrounds", LOMIRI_PHOTOS),
}


@dataclass(frozen=True)
class Photo:
    """One source photo: a stable id (`collection:name`), where it is, which collection it came from."""

    source: str
    path: Path
    collection: str


def builtin_photos(log: Callable[[str], None] | None = None) -> list[Photo]:
    """The builtin photos installed on this machine, sorted by id. Absent sources are skipped (logged)."""
    say = log or (lambda _msg: None)
    photos: list[Photo] = []

    def add(collection: str, folder: Path, names: tuple[str, ...]) -> None:
        missing = [n for n in names if not (folder / n).is_file()]
        for n in missing:
            say(f"builtin: {collection}:{n} not found in {folder}, skipped")
        photos.extend(Photo(f"{collection}:{n}", folder / n, collection) for n in names if n not in missing)

    for collection, module, sub, names in (
        ("skimage", "skimage.data", "", SKIMAGE_PHOTOS),
        ("sklearn", "sklearn.datasets", "images", SKLEARN_PHOTOS),
        ("matplotlib", "matplotlib", "", MATPLOTLIB_PHOTOS),
    ):
        try:
            folder = _module_data_folder(module, sub)
        except ImportError:
            say(f"builtin: {module} is not installed, its photos are skipped")
            continue
        add(collection, folder, names)
    for package, (folder, names) in WALLPAPER_PACKAGES.items():
        if not _dpkg_installed(package) and not any((Path(folder) / n).is_file() for n in names):
            say(f"builtin: Debian package {package} is not installed, its wallpapers are skipped")
            continue
        add(package, Path(folder), names)
    return sorted(photos, key=lambda p: p.source)


BUILTIN_COUNT = (
    len(SKIMAGE_PHOTOS) + len(SKLEARN_PHOTOS) + len(MATPLOTLIB_PHOTOS) + len(MATE_PHOTOS) + len(LOMIRI_PHOTOS)
)


def builtin_shortfall(photos: list[Photo]) -> str:
    """One line when the builtin set on this machine is smaller than the full one (what is missing and how
    to install it), else ''."""
    if len(photos) >= BUILTIN_COUNT:
        return ""
    have = {p.collection for p in photos}
    missing = [pkg for pkg in WALLPAPER_PACKAGES if pkg not in have]
    how = f" (sudo apt-get install {' '.join(missing)})" if missing else ""
    what = (
        f"Debian package(s) {', '.join(missing)} are missing{how}" if missing else "some photos are missing"
    )
    return (
        f"note: the builtin image set has {len(photos)} of its {BUILTIN_COUNT} photos on this machine: "
        f"{what}; results will differ from results/quick"
    )


def _module_data_folder(module: str, sub: str) -> Path:
    if module == "matplotlib":
        import matplotlib

        return Path(matplotlib.get_data_path()) / "sample_data"
    mod = __import__(module, fromlist=["__file__"])
    return Path(mod.__file__).parent / sub


def _dpkg_installed(package: str) -> bool:
    return any(DPKG_INFO.glob(f"{package}.list")) or any(DPKG_INFO.glob(f"{package}:*.list"))
