"""PixelEncoder: the sentence-transformers input module that renders text and runs a ViT-MAE over the patches."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import reprlib
import time
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from sentence_transformers.base.modules import InputModule
from transformers import ViTMAEConfig, ViTMAEModel
from transformers.masking_utils import create_bidirectional_mask

from pixel_st import __version__
from pixel_st.backbone import num_positions, strip_config
from pixel_st.render_pool import MIN_CHUNK, RenderPool
from pixel_st.renderer import RENDERER_CONFIG_NAME, WHITE, TextRenderer
from pixel_st.textfiles import read_json_object

logger = logging.getLogger(__name__)

BACKBONE_CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
ST_CONFIG_NAME = "config_sentence_transformers.json"


class PixelEncoder(InputModule):
    """Renders each sentence with a :class:`TextRenderer` and encodes the strip with a ViT-MAE backbone.

    ``preprocess`` returns ``pixel_values`` (uint8, batch x patches x patch², one row per patch like a token
    sequence, cropped to the longest strip, so that sentence-transformers can pad and merge the columns of
    a training batch into one forward pass) and ``attention_mask`` (one entry per patch: text patches and
    the black patch). ``forward`` runs the backbone without MAE's random masking or shuffling, lets no
    patch attend to empty patches, and returns ``token_embeddings`` (patch outputs, CLS dropped as in
    PIXEL's mean pooling) for the stock ``Pooling``.

    Rendering happens in the calling process unless ``render_workers`` is set: then batches of at least
    ``2 * MIN_CHUNK`` texts are rendered by that many worker processes (started on first use). Pickled copies
    (e.g. in DataLoader workers, which render in parallel already) render in-process, as do forked copies in
    daemonic processes; a forked copy never uses its parent's workers.

    Args:
        vit: the backbone (transformers' ViTMAEModel; its parameter names are transformers 5.x's).
        renderer: the text renderer; its ``max_seq_length`` is the module's.
        render_workers: worker processes for rendering large batches; 0 renders in the calling process.
    """

    config_file_name = "pixel_encoder_config.json"
    save_in_root = True
    tokenizer = None  # texts are drawn, not tokenized: model.tokenizer is None, as for the stock image-only models

    def __init__(self, vit: ViTMAEModel, renderer: TextRenderer, render_workers: int = 0) -> None:
        super().__init__()
        if renderer.patch_size != vit.config.patch_size:
            raise ValueError(f"renderer patch_size {renderer.patch_size} != backbone patch_size {vit.config.patch_size}")
        self.vit = vit
        self.renderer = renderer
        self.max_seq_length = renderer.max_seq_length  # validated against the position table
        self._render_pool: RenderPool | None = None
        self.render_workers = render_workers

    @property
    def render_workers(self) -> int:
        return self._render_workers

    @render_workers.setter
    def render_workers(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"render_workers must be an int >= 0, got {value!r}")
        self._close_render_pool()
        self._render_workers = value

    def _close_render_pool(self) -> None:
        if self._render_pool is not None:
            self._render_pool.close()
            self._render_pool = None

    def _render(self, texts: list[str], max_patches: int | None) -> tuple:
        if self._render_pool is not None and self._render_pool.pid != os.getpid():
            self._render_pool = None  # a forked copy of this module: the pool is the parent's, to leave alone
        if self.render_workers and multiprocessing.current_process().daemon:
            self._render_workers = 0  # a daemonic process (a DataLoader worker) cannot start processes
        if not self.render_workers or len(texts) < 2 * MIN_CHUNK:
            return self.renderer.render_batch(texts, max_patches)
        if self._render_pool is None or self._render_pool.config != self.renderer.config_dict():
            self._close_render_pool()
            self._render_pool = RenderPool(self.renderer, self.render_workers)
        try:
            return self._render_pool.render_batch(texts, max_patches)
        except BrokenProcessPool:
            workers, self.render_workers = self.render_workers, 0
            logger.warning(
                "A render worker process died (killed, out of memory, or a script without the "
                "`if __name__ == '__main__':` guard that spawned workers need); rendering in-process from now "
                "on (render_workers was %d, is 0; set it again to start a new pool).",
                workers,
            )
            return self.renderer.render_batch(texts, max_patches)

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "_render_pool": None, "_render_workers": 0}

    @classmethod
    def new(cls, preset: str = "small", max_seq_length: int = 64, **renderer_kwargs: Any) -> PixelEncoder:
        """A freshly initialised encoder of a size preset (``tiny``, ``mini``, ``small``, ``base``: see
        :data:`pixel_st.backbone.PRESETS`)."""
        renderer = TextRenderer(max_seq_length=max_seq_length, **renderer_kwargs)
        return cls(ViTMAEModel(strip_config(preset, max_seq_length, renderer.patch_size)), renderer)

    @property
    def max_seq_length(self) -> int:
        return self.renderer.max_seq_length

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        if isinstance(value, int) and value > num_positions(self.vit):
            raise ValueError(
                f"max_seq_length {value} exceeds the backbone's {num_positions(self.vit)} position embeddings"
            )
        self.renderer.max_seq_length = value

    def get_embedding_dimension(self) -> int:
        return self.vit.config.hidden_size

    def get_config_dict(self) -> dict[str, Any]:
        return {"pixel_st_version": __version__}

    def __repr__(self) -> str:
        config = self.vit.config
        return (
            f"PixelEncoder(hidden_size={config.hidden_size}, layers={config.num_hidden_layers}, "
            f"heads={config.num_attention_heads}, renderer={self.renderer!r})"
        )

    def preprocess(
        self, inputs: Sequence[str], prompt: str | None = None, max_length: int | None = None, **kwargs: Any
    ) -> dict[str, torch.Tensor]:
        """Render a batch of strings; ``max_length`` (patches) may shorten strips below ``max_seq_length``.

        With a ``prompt`` (drawn before each text), ``prompt_length`` says how many leading patches hold only
        the prompt, for ``Pooling(include_prompt=False)`` to leave out.
        """
        for index, item in enumerate(inputs):
            if not isinstance(item, str):
                raise TypeError(
                    f"PixelEncoder encodes strings, but input {index} is {type(item).__name__}: {reprlib.repr(item)}"
                )
        texts = [prompt + text for text in inputs] if prompt else list(inputs)
        pixels, lengths = self._render(texts, max_length)
        size = self.renderer.patch_size
        count, patches = len(pixels), pixels.shape[2] // size
        patch_rows = torch.from_numpy(pixels).view(count, size, patches, size).transpose(1, 2).reshape(count, patches, -1)
        attention_mask = torch.arange(patches)[None, :] < torch.from_numpy(lengths)[:, None]
        features = {"pixel_values": patch_rows, "attention_mask": attention_mask.long()}
        if prompt:
            features["prompt_length"] = self.renderer.prefix_patches(prompt, max_length)
        return features

    def forward(self, features: dict[str, torch.Tensor], **kwargs: Any) -> dict[str, torch.Tensor]:
        mask = features["attention_mask"]
        used = mask.shape[1]  # pixels wider than the mask (a caller that trims only the mask) are cropped to it
        strips = strips_from_patches(features["pixel_values"][:, :used], self.vit.config.patch_size)
        embeddings = self.vit.embeddings
        weight = embeddings.patch_embeddings.projection.weight
        image = strips.to(weight.dtype) / WHITE
        image = image.expand(-1, self.vit.config.num_channels, -1, -1)
        positions = embeddings.position_embeddings[:, : used + 1]
        patches = embeddings.patch_embeddings(image) + positions[:, 1:]
        cls = (embeddings.cls_token + positions[:, :1]).expand(len(patches), -1, -1)
        hidden = torch.cat([cls, patches], dim=1)
        keys = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        attention = create_bidirectional_mask(config=self.vit.config, inputs_embeds=hidden, attention_mask=keys)
        for layer in self.vit.layers:
            hidden = layer(hidden, attention)
        hidden = self.vit.layernorm(hidden)
        features.update({"token_embeddings": hidden[:, 1:], "attention_mask": mask})
        return features

    # -- persistence -------------------------------------------------------------------------------------

    def save(self, output_path: str, *args: Any, safe_serialization: bool = True, **kwargs: Any) -> None:
        """Write the backbone's config.json, model.safetensors, renderer_config.json (+ fonts/), our config."""
        self.vit.config.to_json_file(os.path.join(output_path, BACKBONE_CONFIG_NAME))
        self.save_torch_weights(output_path, safe_serialization=True)
        self.renderer.save(output_path)
        self.save_config(output_path)
        _declare_requirement(output_path)

    @classmethod
    def load(
        cls,
        model_name_or_path: str,
        subfolder: str = "",
        token: bool | str | None = None,
        cache_folder: str | None = None,
        revision: str | None = None,
        local_files_only: bool = False,
        model_kwargs: dict[str, Any] | None = None,
        config_kwargs: dict[str, Any] | None = None,
        processor_kwargs: dict[str, Any] | None = None,
        backend: str = "torch",
        **kwargs: Any,
    ) -> PixelEncoder:
        """Called by ``SentenceTransformer(...)``; ``model_kwargs`` may hold ``dtype`` (or ``torch_dtype``:
        a torch dtype, its name, or ``"auto"`` for the stored one), ``attn_implementation`` and ``render_workers``;
        ``config_kwargs`` override backbone config values (e.g. dropout for fine-tuning)."""
        if backend != "torch":
            raise ValueError(f"PixelEncoder runs on the torch backend only, not backend={backend!r}")
        if processor_kwargs:
            raise ValueError(
                f"PixelEncoder takes no processor_kwargs (got {sorted(processor_kwargs)}): the renderer's settings "
                "are the model's own (renderer_config.json), and changing them would change its embeddings"
            )
        folder = cls.load_dir_path(
            model_name_or_path,
            subfolder=subfolder,
            token=token,
            cache_folder=cache_folder,
            revision=revision,
            local_files_only=local_files_only,
        )
        options = dict(model_kwargs or {})
        if "torch_dtype" in options:
            options.setdefault("dtype", options.pop("torch_dtype"))
        unknown = sorted(set(options) - LOAD_OPTIONS)
        if unknown:
            raise ValueError(f"PixelEncoder does not take model_kwargs {unknown}; it takes {sorted(LOAD_OPTIONS)}")
        return cls.from_folder(folder, config_overrides=config_kwargs, **options)

    @classmethod
    def from_folder(
        cls,
        folder: str,
        dtype: torch.dtype | str | None = None,
        attn_implementation: str | None = None,
        render_workers: int = 0,
        config_overrides: dict[str, Any] | None = None,
    ) -> PixelEncoder:
        """Load from a local folder written by :meth:`save`; every problem names the file at fault.

        Weights load in float32 unless ``dtype`` says otherwise (``"auto"``: as stored, e.g. float16).
        """
        for name in (cls.config_file_name, BACKBONE_CONFIG_NAME, WEIGHTS_NAME):
            if not os.path.isfile(os.path.join(folder, name)):
                raise FileNotFoundError(f"Not a complete pixel_st model folder: {name} is missing in {folder}")
        read_json_object(os.path.join(folder, cls.config_file_name), "pixel_st config")
        renderer = TextRenderer.load(folder)
        config_path = os.path.join(folder, BACKBONE_CONFIG_NAME)
        try:
            config = ViTMAEConfig.from_json_file(config_path)
        except (ValueError, TypeError) as error:
            raise ValueError(f"Corrupt backbone config {config_path}: {error}") from None
        if config_overrides:
            unknown = sorted(key for key in config_overrides if not hasattr(config, key))
            if unknown:
                raise ValueError(f"config_kwargs {unknown} are not settings of the backbone config {config_path}")
            config.update(config_overrides)
        if attn_implementation is not None:
            config._attn_implementation = attn_implementation
        with torch.device("meta"):  # no random initialisation: every tensor comes from the file
            try:
                encoder = cls(ViTMAEModel(config), renderer, render_workers)
            except ValueError as error:  # max_seq_length or patch_size of the renderer against the backbone's
                raise ValueError(f"{RENDERER_CONFIG_NAME} does not fit {config_path}: {error}") from None
        weights_path = os.path.join(folder, WEIGHTS_NAME)
        try:
            state = load_file(weights_path)
        except (SafetensorError, OSError) as error:
            raise ValueError(f"Corrupt weights file {weights_path}: {error}") from None
        expected = set(encoder.state_dict())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        if missing or unexpected:
            raise ValueError(
                f"Weights in {weights_path} do not match {config_path}: "
                f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
            )
        try:
            assign_weights(encoder, state, _resolve_dtype(dtype, state))
        except RuntimeError as error:
            raise ValueError(f"Weights in {weights_path} do not fit {config_path}: {error}") from None
        return encoder


def strips_from_patches(patch_rows: torch.Tensor, patch_size: int) -> torch.Tensor:
    """``pixel_values`` (batch x patches x patch_size², each row one patch, row-major) back to strips
    (batch x 1 x patch_size x patches * patch_size), the image layout the patch embedding convolves."""
    count, patches = patch_rows.shape[:2]
    square = patch_rows.reshape(count, patches, patch_size, patch_size)
    return square.transpose(1, 2).reshape(count, 1, patch_size, patches * patch_size)


def assign_weights(module: torch.nn.Module, state: dict[str, torch.Tensor], dtype: torch.dtype = torch.float32) -> None:
    """Give a module built on the meta device its weights from ``state`` (floating ones cast to ``dtype``),
    without the random initialisation a normal build would do first; frozen parameters stay frozen."""
    cast = {key: value.to(dtype) if value.is_floating_point() else value for key, value in state.items()}
    module.load_state_dict(cast, assign=True)


LOAD_OPTIONS = {"dtype", "attn_implementation", "render_workers"}


def _resolve_dtype(dtype: torch.dtype | str | None, state: dict[str, torch.Tensor]) -> torch.dtype:
    if dtype is None:
        return torch.float32
    if dtype == "auto":
        return next(value.dtype for value in state.values() if value.is_floating_point())
    resolved = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
    if not isinstance(resolved, torch.dtype) or not resolved.is_floating_point:
        raise ValueError(f"dtype must be a floating torch dtype, its name or 'auto', got {dtype!r}")
    return resolved


def _declare_requirement(module_folder: str) -> None:
    """Add ``pixel-st`` to the ``requirements`` of the model's config_sentence_transformers.json, so that
    loading on a machine without the package fails with sentence-transformers' own clear message.

    Under DDP, transformers 5 calls the trainer's save on every rank, so another process may be writing the
    same file: we write atomically and read again if we catch the other writer mid-file.
    """
    for folder in (module_folder, os.path.dirname(os.path.normpath(module_folder))):
        path = os.path.join(folder, ST_CONFIG_NAME)
        if not os.path.isfile(path):
            continue
        for attempt in range(50):
            try:
                with open(path, encoding="utf-8") as file:
                    config = json.load(file)
                break
            except json.JSONDecodeError:
                if attempt == 49:
                    raise
                time.sleep(0.02)
        config.setdefault("requirements", {})["pixel-st"] = {
            "specifier": ">=0.1",
            "reason": "the model renders text with pixel_st (pip install pixel-st)",
        }
        temporary = f"{path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(config, file, indent=2, sort_keys=True)
        os.replace(temporary, path)
        return
