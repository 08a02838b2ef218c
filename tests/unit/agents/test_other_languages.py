"""Requests in Spanish, French, German, Italian and Portuguese (or mixed with English) are read like English
ones: the lexicon (`vocabulary.json` "languages") gives their units, counts, media kinds and shapes, and the
prompt keeps only the user's description, never a unit word or a dangling "de" (issue 14)."""

from __future__ import annotations

import pytest

from agents.compose import plan_request
from agents.parsing import parse_request
from agents.reformat import reformat_text


@pytest.mark.parametrize(
    ("prompt", "task", "seconds", "subject"),
    [
        ("un video de 5 segundos de un gato", "text-to-video", 5, "un gato"),
        ("une vidéo de cinq secondes d'un chat qui dort", "text-to-video", 5, "un chat qui dort"),
        ("ein Video von einem Hund am Strand, 5 Sekunden lang", "text-to-video", 5, "einem Hund am Strand"),
        (
            "vorrei un video di dieci secondi di un tramonto sul mare",
            "text-to-video",
            10,
            "un tramonto sul mare",
        ),
        ("gere um vídeo de 3 segundos de um cachorro correndo na praia", "text-to-video", 3, "um cachorro"),
        ("Erstelle bitte ein Video von einem Fuchs im Schnee, 4 Sekunden", "text-to-video", 4, "einem Fuchs"),
        ("video de un perro corriendo, dos segundos", "text-to-video", 2, "un perro corriendo"),
        ("a video of a cat, 5 Sekunden", "text-to-video", 5, "cat"),
        ("una imagen de un perro en la playa", "text-to-image", None, "un perro en la playa"),
        ("ein Bild von einem Leuchtturm", "text-to-image", None, "einem Leuchtturm"),
        ("une image d'un chat", "text-to-image", None, "un chat"),
        ("uma imagem de um gato", "text-to-image", None, "um gato"),
        ("por favor, crea una foto de una montaña nevada", "text-to-image", None, "una montaña nevada"),
        ("un'immagine di un faro", "text-to-image", None, "un faro"),
    ],
)
def test_kind_duration_and_subject(prompt: str, task: str, seconds: int | None, subject: str) -> None:
    intent = reformat_text(prompt)
    assert intent.task == task
    if seconds is not None:
        assert intent.duration == pytest.approx(seconds, abs=0.1)
    assert intent.prompt.lower().startswith(subject.lower()), intent.prompt
    words = intent.prompt.lower().split()
    for unit in ("segundos", "secondes", "sekunden", "secondi", "de de", "di di", "video", "vidéo", "bild"):
        assert unit not in words and unit not in intent.prompt.lower().split(", "), intent.prompt
    assert " de de " not in f" {intent.prompt} "


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("24 fotogramas por segundo", "fps", 24),
        ("30 images par seconde", "fps", 30),
        ("12 Bilder pro Sekunde", "fps", 12),
        ("16 fotogrammi al secondo", "fps", 16),
        ("2 minutos", "duration", 120),
        ("drei Sekunden", "duration", 3),
        ("sei secondi", "duration", 6),
        ("vingt secondes", "duration", 20),
    ],
)
def test_units_and_counts(text: str, key: str, value: float) -> None:
    assert parse_request(f"a fox, {text}").numbers[key] == value


@pytest.mark.parametrize(
    ("text", "aspect"),
    [
        ("imagen cuadrada de un perro", (1, 1)),
        ("ein Bild im Hochformat", (9, 16)),
        ("une photo carrée", (1, 1)),
    ],
)
def test_shapes(text: str, aspect: tuple[int, int]) -> None:
    parsed = parse_request(text)
    assert parsed.aspect == aspect
    assert "im " not in parsed.rest + " "


@pytest.mark.parametrize(
    "prompt",
    ["a lighthouse, 5 seconds", "um five seconds of rain", "Die Hard style poster", "la la land poster"],
)
def test_english_is_unchanged(prompt: str) -> None:
    intent = reformat_text(prompt)
    if "seconds" in prompt:
        assert intent.duration == pytest.approx(5, abs=0.1)
    if "poster" in prompt:
        assert intent.prompt.lower().startswith(prompt.split()[0].lower())


def test_the_planner_reads_the_same_units() -> None:
    plan = plan_request("un zorro en la nieve, 4 segundos, then upscale it 2x")
    assert plan.steps[0].params.get("seconds") == 4
    plan = plan_request("a fox running, cinq secondes, then upscale 2x")
    assert plan.steps[0].params.get("seconds") == 5


@pytest.mark.parametrize(
    ("prompt", "ops", "subject"),
    [
        ("un zorro en la nieve, luego amplíalo 2x", ["generate_image", "upscale"], "un zorro en la nieve"),
        ("une photo d'un chat, puis agrandis-la 2x", ["generate_image", "upscale"], "un chat"),
        ("una foto di un gatto, poi ingrandiscila 2x", ["generate_image", "upscale"], "un gatto"),
        ("uma foto de um gato, depois amplie 2x", ["generate_image", "upscale"], "um gato"),
        (
            "ein Bild von einem Fuchs, dann animieren, 3 Sekunden",
            ["generate_image", "image_to_video"],
            "einem Fuchs",
        ),
        ("una foto de un perro, luego anímalo", ["generate_image", "image_to_video"], "un perro"),
    ],
)
def test_chains_in_other_languages(prompt: str, ops: list[str], subject: str) -> None:
    plan = plan_request(prompt)
    assert [s.op for s in plan.steps] == ops
    assert plan.steps[0].params["prompt"] == subject


@pytest.mark.parametrize(
    ("prompt", "positive", "negative"),
    [
        (
            "a lighthouse at night, no people, then make it look like an oil painting",
            "a lighthouse at night",
            "people",
        ),
        ("a forest path, avoid blur, without text, then upscale it 2x", "a forest path", "blur, text"),
    ],
)
def test_a_chains_first_picture_takes_its_negatives(prompt: str, positive: str, negative: str) -> None:
    step = plan_request(prompt).steps[0]
    assert (step.params["prompt"], step.params["negative_prompt"]) == (positive, negative)


@pytest.mark.parametrize(
    ("prompt", "seconds", "described"),
    [
        ("anima esta foto, 4 segundos", 4, None),
        ("anime cette photo pendant trois secondes", 3, None),
        ("animiere dieses Foto, 2 Sekunden", 2, None),
        ("animiere das Bild: die Wellen brechen am Strand", None, "die Wellen brechen am Strand"),
    ],
)
def test_animating_a_given_picture_in_other_languages(
    prompt: str, seconds: int | None, described: str | None
) -> None:
    intent = reformat_text(prompt, {"input_image": "photo.png"})
    assert intent.task == "image-to-video"
    if seconds is not None:
        assert intent.duration == pytest.approx(seconds, abs=0.1)
    step = plan_request(prompt, {"photo.png": "image"}).steps[0]
    assert step.op == "image_to_video"
    assert step.params["prompt"] == (described or "")


def test_anime_alone_is_still_a_style() -> None:
    assert reformat_text("turn this photo into anime", {"input_image": "photo.png"}).task == "image-to-image"
