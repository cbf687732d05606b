"""Three classification heads on one pretrained encoder, as a Hugging Face model that saves and loads whole.

    plain  encoder CLS (or the pooler output when the checkpoint has a trained pooler) -> dropout -> linear
    arch1  the original design's first head: Conv1d over the token states (hidden -> 64 channels, kernel 3),
           batch norm of each channel over the real tokens, ReLU, mean over real tokens (PAD excluded)
           -> dropout -> linear
    arch2  the original design's improved head: three hidden-size vectors -- last-layer CLS, CLS of
           hidden_states[-4], and the mean of the last layer over real tokens (PAD excluded, divided
           by the number of real tokens) -- mixed by a learned weighted sum (Conv1d 3 -> 1, kernel 1),
           ReLU -> dropout -> linear

The same class does multi-label classification (GoEmotions) when config.problem_type is
"multi_label_classification" (sigmoid + BCE instead of softmax + cross-entropy).

    model = build_emotion_model("path/to/encoder", "arch2", ["기쁨/기쁨", "분노/분노"])
    model.save_pretrained("saved_model/emotion")          # config.json holds head, labels and encoder config
    model = EmotionClassifier.from_pretrained("saved_model/emotion")   # needs nothing else
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from moodpipe.models.inference import masked_mean

HEADS = ("plain", "arch1", "arch2")


class EmotionHeadConfig(PretrainedConfig):
    """Head type, labels (num_labels/id2label/label2id from the base class) and the encoder's own config,
    kept as a plain dict so that config.json round-trips through any transformers 5.x (sub-config
    machinery changed between minor releases; a dict is public, stable JSON)."""

    model_type = "emotion-head"

    def __init__(self, encoder: dict | None = None, head: str = "plain", use_pooler: bool = False,
                 conv_channels: int = 64, classifier_dropout: float = 0.1, train_max_length: int = 128,
                 feature_norm: bool = False, **kwargs):
        self.encoder = encoder.to_dict() if hasattr(encoder, "to_dict") else dict(encoder or {"model_type": "bert"})
        self.head = head
        self.use_pooler = use_pooler  # True only when the checkpoint shipped trained pooler weights
        self.conv_channels = conv_channels  # arch1
        self.classifier_dropout = classifier_dropout
        self.feature_norm = feature_norm  # batch-normalise the pooled vector before the classifier
        self.train_max_length = train_max_length  # the max_length used in training; scoring packs chunks to it
        super().__init__(**kwargs)

    def encoder_config(self) -> PretrainedConfig:
        settings = dict(self.encoder)
        settings.pop("quantization_config", None)  # a QLoRA run saves dequantized weights
        return AutoConfig.for_model(settings.pop("model_type"), **settings)


class EmotionClassifier(PreTrainedModel):
    config_class = EmotionHeadConfig
    base_model_prefix = "encoder"

    def __init__(self, config: EmotionHeadConfig):
        super().__init__(config)
        if config.head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, not {config.head!r}")
        encoder_config = config.encoder_config()
        self.encoder = AutoModel.from_config(encoder_config)
        if not config.use_pooler and getattr(self.encoder, "pooler", None) is not None:
            self.encoder.pooler = None  # an untrained pooler would only add noise and unused weights
        hidden = encoder_config.hidden_size
        self.dropout = nn.Dropout(config.classifier_dropout)
        # Sentence vectors of an encoder like multilingual-e5 all point nearly the same way (their cosine to
        # the centroid is close to 1): what separates emotions is a small part of each vector,
        # and a fresh linear layer first learns the label prior from the shared part. Normalising each
        # feature over the batch removes the shared part, so the classifier sees the differences at once.
        feature_size = config.conv_channels if config.head == "arch1" else config.encoder_config().hidden_size
        self.norm = nn.BatchNorm1d(feature_size) if config.feature_norm else nn.Identity()
        if config.head == "arch1":
            self.conv = nn.Conv1d(hidden, config.conv_channels, kernel_size=3, padding=1)
            # Without it arch1 collapsed on AI-Hub: e5's token states share one large component, so each
            # channel's pre-activation had nearly the same value at every token of every example; 51 of 64
            # channels were negative everywhere (dead after ReLU, so they never got a gradient again) and the
            # rest gave one vector for all inputs. Centring each channel over the batch's real tokens puts
            # about half of every channel's values above zero, and what is left is what differs.
            self.conv_norm = nn.BatchNorm1d(config.conv_channels)
            self.classifier = nn.Linear(config.conv_channels, config.num_labels)
        else:
            if config.head == "arch2":
                self.mix = nn.Conv1d(3, 1, kernel_size=1)  # learned weighted sum of the three vectors
            self.classifier = nn.Linear(hidden, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if module is getattr(self, "mix", None):
            # Start the learned weighted sum as the plain average of the three vectors. With the default
            # N(0, 0.02) init the mixed vector starts orders of magnitude smaller than a CLS vector, soon is
            # nearly the same for every example, and the head learns only the label prior.
            nn.init.constant_(module.weight, 1 / 3)
            nn.init.zeros_(module.bias)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None):
        logits, _ = self.logits_and_features(input_ids, attention_mask, token_type_ids)
        loss = None if labels is None else self.loss(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def logits_and_features(self, input_ids, attention_mask=None, token_type_ids=None) -> tuple:
        """(logits, the vector the classifier sees): song scoring keeps both from one encoder pass."""
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        kwargs = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
        out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                           output_hidden_states=self.config.head == "arch2", return_dict=True, **kwargs)
        features = self.norm(self.features(out, attention_mask))
        return self.classifier(self.dropout(features)), features

    def features(self, out, attention_mask: torch.Tensor) -> torch.Tensor:
        """The vector the final linear layer sees, one per example."""
        last = out.last_hidden_state
        if self.config.head == "plain":
            return out.pooler_output if self.config.use_pooler else last[:, 0]
        if self.config.head == "arch1":
            return masked_mean(self.conv_channels(last, attention_mask), attention_mask)
        layer = out.hidden_states[max(-4, -len(out.hidden_states))]  # shallow encoders: the earliest there is
        stacked = torch.stack([last[:, 0], layer[:, 0], masked_mean(last, attention_mask)], dim=1)  # (B, 3, H)
        return torch.relu(self.mix(stacked).squeeze(1))

    def conv_channels(self, last: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """arch1's (B, T, channels) ReLU outputs; the batch norm sees real tokens only, PAD stays 0."""
        real = attention_mask.bool()
        conv = self.conv((last * real.unsqueeze(-1).to(last.dtype)).transpose(1, 2)).transpose(1, 2)
        out = torch.zeros_like(conv)
        out[real] = torch.relu(self.conv_norm(conv[real]))
        return out

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.config.problem_type == "multi_label_classification":
            return nn.functional.binary_cross_entropy_with_logits(logits.float(), labels.float())
        return nn.functional.cross_entropy(logits.float(), labels.long())


def label_similarity(model: EmotionClassifier):
    """Cosine similarity of the classes' rows in the final linear layer's weight, as a numpy array."""
    w = model.classifier.weight.detach().float().cpu()
    w = w / w.norm(dim=1, keepdim=True).clamp(min=1e-12)
    return (w @ w.T).numpy()


def build_emotion_model(encoder_path: str, head: str, label_names: list[str], multi_label: bool = False,
                        train_max_length: int = 128, dropout: float = 0.1, feature_norm: bool = False,
                        **load_kwargs) -> EmotionClassifier:
    """A new classifier whose encoder holds the pretrained weights at encoder_path and whose head is fresh.
    load_kwargs go to AutoModel.from_pretrained (e.g. a 4-bit quantization_config for QLoRA)."""
    encoder, info = AutoModel.from_pretrained(encoder_path, output_loading_info=True, **load_kwargs)
    has_pooler = getattr(encoder, "pooler", None) is not None and not any(
        k.startswith("pooler") for k in info.get("missing_keys", []))
    config = EmotionHeadConfig(
        encoder=encoder.config.to_dict(), head=head, use_pooler=has_pooler, classifier_dropout=dropout,
        train_max_length=train_max_length, feature_norm=feature_norm, num_labels=len(label_names),
        id2label=dict(enumerate(label_names)), label2id={n: i for i, n in enumerate(label_names)},
        problem_type="multi_label_classification" if multi_label else "single_label_classification")
    model = EmotionClassifier(config)
    if not has_pooler:
        encoder.pooler = None
    model.encoder = encoder  # after post_init, so the pretrained weights are never re-initialised
    if "quantization_config" in load_kwargs:  # QLoRA: the 4-bit encoder already sits on its GPU; the head joins it
        device = next(encoder.parameters()).device
        for name, module in model.named_children():
            if name != "encoder":
                module.to(device)
        model.is_loaded_in_4bit = True  # what the bitsandbytes loader marks; peft then wraps 4-bit layers
    return model


def freeze_word_embeddings(model: EmotionClassifier, setting: str = "auto", train_ids=None) -> dict:
    """Freeze the encoder's word-embedding matrix: `yes`, `no`, `auto` = when it holds more than three
    quarters of the encoder's parameters (multilingual vocabularies: 96M of multilingual-e5-small's 118M),
    or `used` = frozen, plus a trainable correction for the rows of train_ids only (see UsedRowsEmbedding)."""
    weight = model.encoder.get_input_embeddings().weight
    total = sum(p.numel() for p in model.encoder.parameters())
    freeze = setting in ("yes", "used") or (setting == "auto" and weight.numel() > 0.75 * total)
    weight.requires_grad_(not freeze)
    facts = {"setting": setting, "word_embeddings_frozen": freeze, "word_embedding_params": weight.numel(),
             "encoder_params": total}
    if setting == "used":
        if train_ids is None:
            raise ValueError("freeze setting 'used' needs the token ids of the training data")
        model.encoder.set_input_embeddings(UsedRowsEmbedding(model.encoder.get_input_embeddings(), train_ids))
        facts["tuned_rows"] = len(model.encoder.get_input_embeddings().rows)
    facts["trainable_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return facts


class UsedRowsEmbedding(nn.Module):
    """A frozen embedding matrix plus a trainable correction for a few of its rows.

    Tuning all of multilingual-e5's 250k x 384 rows makes AdamW's step dominate on a CPU, yet a
    Korean corpus touches only a few percent of them. Training a correction for just those rows
    gives the same gradient at the cost of the rows used; merged() folds it back into a plain
    nn.Embedding, so the saved model is an ordinary encoder."""

    def __init__(self, base: nn.Embedding, rows):
        super().__init__()
        self.base = base.requires_grad_(False)
        self.rows = torch.as_tensor(sorted(set(rows)), dtype=torch.long)
        slot = torch.zeros(base.num_embeddings, dtype=torch.long)  # slot 0: every other row, never trained
        slot[self.rows] = torch.arange(1, len(self.rows) + 1)
        self.register_buffer("slot", slot, persistent=False)
        self.delta = nn.Parameter(torch.zeros(len(self.rows) + 1, base.embedding_dim, dtype=base.weight.dtype))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.base(input_ids) + self.delta[self.slot[input_ids]]

    def merged(self) -> nn.Embedding:
        with torch.no_grad():
            self.base.weight[self.rows] += self.delta[1:].to(self.base.weight.dtype)
        return self.base


def merge_used_rows(model: EmotionClassifier) -> None:
    """Fold a UsedRowsEmbedding back into the encoder's plain embedding (before saving)."""
    embedding = model.encoder.get_input_embeddings()
    if isinstance(embedding, UsedRowsEmbedding):
        model.encoder.set_input_embeddings(embedding.merged())


# Let AutoConfig/AutoModel (and AutoTokenizer, which reads config.json) recognise saved folders.
AutoConfig.register(EmotionHeadConfig.model_type, EmotionHeadConfig)
AutoModel.register(EmotionHeadConfig, EmotionClassifier)
