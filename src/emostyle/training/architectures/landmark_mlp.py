"""An MLP over facial-landmark features: standardise -> PCA -> MLP, all inside one module.

The seed ran MediaPipe face mesh on each face, scaled the landmark coordinates with a
``StandardScaler``, reduced them with ``PCA`` and trained an MLP on the result (55.3%). Here
the scaler and the PCA projection are buffers of the model, fitted once from the training
features by :meth:`LandmarkMLP.fit_preprocessing`, so they are saved in the checkpoint and
exported in the same ONNX graph as the MLP - preprocessing cannot drift from the weights.

The input is a (N, in_features) feature vector, not an image; ``input_kind = "landmarks"`` says
so to callers. :mod:`emostyle.training.landmarks` turns faces into those vectors (468 face-mesh
points x (x, y, z), centred and scaled: 1404 features) and explains why MediaPipe has to run in
a separate environment. Not convolutional: ``forward_features`` returns the last hidden layer
(N, hidden[-1]) and there is no class activation map.

Faces where the landmark source found no mesh arrive as rows of NaN. The model answers them
with ``missing_logits``, the log class prior of the training labels: the best guess without
evidence, so such a face is still classified (usually as the most frequent class, happy) and
counted in the accuracy like any other, rather than silently dropped from the test set.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from emostyle.training.architectures.registry import register


class LandmarkMLP(nn.Module):
    """Standardisation + fixed PCA projection (buffers) + MLP with BN, ReLU and dropout.

    >>> model = LandmarkMLP(in_features=1404)           # doctest: +SKIP
    >>> model.fit_preprocessing(train_features)          # doctest: +SKIP
    >>> logits = model(torch.as_tensor(features))        # doctest: +SKIP
    """

    input_kind = "landmarks"

    def __init__(self, num_classes: int = 7, in_chans: int = 1, img_size: int = 48,
                 in_features: int = 1404, n_components: int = 128,
                 hidden: tuple[int, ...] = (256, 128), dropout: float = 0.3):
        super().__init__()
        del in_chans, img_size  # the input is a feature vector, not an image
        self.in_features = in_features
        self.n_components = n_components
        self.register_buffer("feature_mean", torch.zeros(in_features))
        self.register_buffer("feature_std", torch.ones(in_features))
        self.register_buffer("components", torch.zeros(in_features, n_components))
        self.register_buffer("explained_variance_ratio", torch.zeros(n_components))
        self.register_buffer("missing_logits", torch.zeros(num_classes))
        self.register_buffer("fitted", torch.tensor(False))
        layers: list[nn.Module] = []
        cin = n_components
        for cout in hidden:
            layers += [nn.Linear(cin, cout, bias=False), nn.BatchNorm1d(cout),
                       nn.ReLU(inplace=True), nn.Dropout(dropout)]
            cin = cout
        self.mlp = nn.Sequential(*layers)
        self.num_features = cin
        self.fc = nn.Linear(cin, num_classes)

    @torch.no_grad()
    def fit_preprocessing(self, features: np.ndarray | torch.Tensor,
                          labels: np.ndarray | None = None,
                          whiten: bool = False) -> LandmarkMLP:
        """Fit the scaler and the PCA on training features (N, in_features); returns self.

        Rows with NaN (no mesh found) are left out of the fit. ``labels`` (N,) set the answer
        for such faces at inference (the log class prior). Features with (near) zero variance
        are left unscaled. With fewer samples or features than ``n_components`` the surplus
        components are zero. ``whiten`` divides each component by its standard deviation
        (scikit-learn's ``PCA(whiten=True)``).
        """
        x = np.asarray(torch.as_tensor(features).detach().cpu(), dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"features must be (N, {self.in_features}), got {x.shape}")
        if labels is not None:
            counts = np.bincount(np.asarray(labels), minlength=len(self.missing_logits))
            prior = (counts + 1) / (counts.sum() + len(counts))  # Laplace: no class at -inf
            self.missing_logits.copy_(torch.from_numpy(np.log(prior)))
        x = x[np.isfinite(x).all(1)]
        if len(x) < 2:
            raise ValueError("need at least 2 rows of finite features to fit the preprocessing")
        mean = x.mean(0)
        std = x.std(0)
        std = np.where(std > 1e-8, std, 1.0)
        z = (x - mean) / std
        total = (z**2).sum() / (len(z) - 1)  # trace of the covariance
        if len(z) < z.shape[1]:  # few rows: the SVD of z is cheaper than the covariance
            _, s, vt = np.linalg.svd(z, full_matrices=False)
            var, vecs = s**2 / (len(z) - 1), vt.T
        else:
            var, vecs = np.linalg.eigh(z.T @ z / (len(z) - 1))  # ascending
            var, vecs = var[::-1].clip(min=0), vecs[:, ::-1]
        k = min(self.n_components, len(var), len(z) - 1)
        var, vecs = var[:k], vecs[:, :k]
        # Fix each axis' sign (largest loading positive) so refits give the same projection.
        signs = np.sign(vecs[np.abs(vecs).argmax(0), np.arange(k)])
        vecs = vecs * np.where(signs == 0, 1, signs)
        if whiten:
            vecs = vecs / np.sqrt(np.maximum(var, 1e-12))
        comps = np.zeros((self.in_features, self.n_components))
        comps[:, :k] = vecs
        ratio = np.zeros(self.n_components)
        ratio[:k] = var / max(total, 1e-12)
        self.feature_mean.copy_(torch.from_numpy(mean))
        self.feature_std.copy_(torch.from_numpy(std))
        self.components.copy_(torch.from_numpy(comps))
        self.explained_variance_ratio.copy_(torch.from_numpy(ratio))
        self.fitted.fill_(True)
        return self

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised, PCA-projected features (N, n_components)."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"landmark_mlp expects (N, {self.in_features}) features, "
                             f"got {tuple(x.shape)}")
        if self.training and not bool(self.fitted):
            raise RuntimeError("call fit_preprocessing(train_features) before training")
        return ((x - self.feature_mean) / self.feature_std) @ self.components

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last hidden layer (N, hidden[-1])."""
        return self.mlp(self.project(x))

    def forward_head(self, feats: torch.Tensor) -> torch.Tensor:
        return self.fc(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        missing = torch.isnan(x).any(1, keepdim=True)
        logits = self.forward_head(self.forward_features(torch.nan_to_num(x)))
        return torch.where(missing, self.missing_logits.to(logits.dtype), logits)


@register("landmark_mlp")
def landmark_mlp(**kw: object) -> nn.Module:
    """Scaler + PCA(128) + MLP 256-128 over 1404 face-mesh features (67 k parameters)."""
    return LandmarkMLP(**kw)
