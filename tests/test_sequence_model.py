"""The sequence VAE's core: its GRU, the categorical sequence likelihood, free bits, the property head, the bundle."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from vaekit import VAE
from vaekit import load as load_model
from vaekit.bundle import save_model
from vaekit.core.losses import elbo_loss
from vaekit.data.schema import Schema
from vaekit.errors import DataError
from vaekit.models.module import ModelConfig
from vaekit.nn.sequence import GRU, UNK_ID, SequenceConfig, lengths_of, word_dropout

pytest.importorskip("selfies")
from vaekit.core.likelihoods import SequenceLikelihoodConfig  # noqa: E402
from vaekit.molecules import Vocabulary  # noqa: E402


def tiny_model(max_length: int = 3, tokens: tuple[str, ...] = ("C", "O"), latent: int = 2, seed: int = 0) -> VAE:
    vocab = Vocabulary("smiles", ("<pad>", "<bos>", "<eos>", "<unk>", *tokens), max_length)
    schema = Schema(kind="sequence", shape=(vocab.sequence_length,), vocabulary=vocab.to_dict())
    cfg = ModelConfig(
        latent_dim=latent,
        architecture=SequenceConfig(embedding=8, encoder_hidden=8, decoder_hidden=16),
        likelihood=SequenceLikelihoodConfig(),
        properties=("qed",),
    )
    torch.manual_seed(seed)
    return VAE(cfg, schema).eval()


def all_sequences(model: VAE) -> torch.Tensor:
    """Every id row the model can produce: <bos>, 1..max_length vocabulary tokens, <eos>, padding."""
    length = model.schema.shape[0]
    size = len(model.schema.vocabulary["tokens"])
    rows = []
    for n in range(1, length - 1):
        for body in itertools.product(range(4, size), repeat=n):
            rows.append([1, *body, 2] + [0] * (length - n - 2))
    return torch.tensor(rows)


def test_gru_matches_torch_gru():
    torch.manual_seed(0)
    ours, ref = GRU(5, 7), torch.nn.GRU(5, 7, batch_first=True)
    with torch.no_grad():
        ref.weight_ih_l0.copy_(ours.input.weight)
        ref.bias_ih_l0.copy_(ours.input.bias)
        ref.weight_hh_l0.copy_(ours.hidden.weight)
        ref.bias_hh_l0.copy_(ours.hidden.bias)
    x, h = torch.randn(3, 6, 5), torch.randn(3, 7)
    torch.testing.assert_close(ours(x, h), ref(x, h[None])[0])


def test_likelihood_sums_to_one_over_all_sequences():
    model = tiny_model()
    rows = all_sequences(model)  # 2 + 4 + 8 = 14 sequences of one to three tokens
    z = torch.randn(2, 1, model.config.latent_dim)
    with torch.no_grad():
        total = model.decode(z).log_prob(rows).exp().sum(-1)
    torch.testing.assert_close(total, torch.ones(2), atol=1e-5, rtol=0)


def test_samples_follow_log_prob():
    model = tiny_model(max_length=2)
    rows = all_sequences(model)  # 6 sequences
    z = torch.zeros(1, model.config.latent_dim)
    with torch.no_grad():
        p = model.decode(z).log_prob(rows).exp()
        draws = model.decode(z.expand(20000, -1)).sample(torch.Generator().manual_seed(0))
    counts = torch.stack([(draws == r).all(-1).sum() for r in rows]).double()
    assert counts.sum() == 20000  # every draw is one of the possible rows
    expected = 20000 * p.double()
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 20.5  # 5 degrees of freedom: p ~ 0.001


def test_greedy_decoding_is_the_argmax_path():
    model = tiny_model(max_length=1)  # rows: <bos>C<eos>, <bos>O<eos>: one choice, so greedy = most probable
    z = torch.randn(4, model.config.latent_dim)
    with torch.no_grad():
        lp = model.decode(z[:, None]).log_prob(all_sequences(model))  # (4, 2)
        greedy = model.decode(z).mean
    torch.testing.assert_close(greedy, all_sequences(model)[lp.argmax(-1)])


def test_decoder_runs_in_the_precision_the_likelihood_was_made_in():
    """The decoder runs lazily (when scored or sampled), so the autocast of the caller that made the likelihood
    (training's bf16) must travel with it: scoring it afterwards still runs the GRU in bf16."""
    model = tiny_model()
    rows, z = all_sequences(model), torch.randn(len(all_sequences(model)), model.config.latent_dim)
    dtypes = []
    model.decoder.out.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    with torch.no_grad():
        exact = model.decode(z).log_prob(rows)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model.decode(z)
        lp = low.log_prob(rows)
        low.sample(torch.Generator().manual_seed(0))
    assert dtypes[0] == torch.float32 and set(dtypes[1:]) == {torch.bfloat16}
    assert lp.dtype == torch.float32
    torch.testing.assert_close(lp, exact, atol=0.05, rtol=0.02)


def test_word_dropout_hides_only_real_tokens():
    ids = torch.tensor([[1, 4, 5, 4, 5, 4, 2, 0, 0]] * 400)
    hidden = word_dropout(ids, 0.3, torch.Generator().manual_seed(0))
    changed = hidden != ids
    assert (hidden[changed] == UNK_ID).all() and not changed[:, [0, 6, 7, 8]].any()  # <bos>, <eos>, padding kept
    assert 0.27 < changed[:, 1:6].float().mean() < 0.33
    torch.testing.assert_close(hidden, word_dropout(ids, 0.3, torch.Generator().manual_seed(0)))
    assert torch.equal(word_dropout(ids, 0.0), ids)


def test_reading_other_inputs_scores_the_same_targets():
    """Word dropout changes what teacher forcing reads, never what is scored: reading the very rows scores them
    as before; reading a row with its tokens hidden gives a different score of the same targets."""
    model = tiny_model(max_length=3)
    rows = all_sequences(model)
    z = torch.randn(len(rows), model.config.latent_dim)
    with torch.no_grad():
        p = model.decode(z)
        torch.testing.assert_close(p.reading(rows).log_prob(rows), p.log_prob(rows))
        hidden = torch.where(rows > UNK_ID, torch.full_like(rows, UNK_ID), rows)
        differs = p.reading(hidden).log_prob(rows) != p.log_prob(rows)
    assert differs.all()  # every row reads a hidden token before its <eos> is scored


def test_encoder_reads_each_row_up_to_its_end():
    model = tiny_model(max_length=4)
    short = torch.tensor([[1, 4, 2, 0, 0, 0]])
    long = torch.tensor([[1, 5, 4, 5, 4, 2]])
    alone = model.encode(short).mean
    batched = model.encode(torch.cat([short, long])).mean[:1]
    torch.testing.assert_close(alone, batched)
    assert lengths_of(torch.cat([short, long])).tolist() == [3, 6]


def test_free_bits_stop_the_kl_gradient_below_the_floor():
    model = tiny_model()
    x = all_sequences(model)[:6]
    latents, lik = model(x, torch.Generator().manual_seed(0))
    floor = float(latents.kl_dims.detach().mean(0).max()) + 1.0  # every dimension is below it
    out = elbo_loss(x, latents, lik, free_bits=floor)
    reconstruction = -out.reconstruction.mean()
    grads = torch.autograd.grad(out.loss, model.encoder.head.weight, retain_graph=True)[0]
    rec_only = torch.autograd.grad(reconstruction, model.encoder.head.weight)[0]
    torch.testing.assert_close(grads, rec_only)  # the KL term contributes nothing
    assert out.loss.item() == pytest.approx(reconstruction.item() + floor * model.config.latent_dim, rel=1e-5)


def test_bundle_round_trip(tmp_path):
    model = tiny_model()
    with torch.no_grad():
        model.property_shift.fill_(0.5)
    save_model(model, tmp_path / "run")
    loaded = load_model(tmp_path / "run")
    x = all_sequences(model)
    z = torch.randn(len(x), model.config.latent_dim)
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode(z).log_prob(x), model.decode(z).log_prob(x))
        torch.testing.assert_close(loaded.predict_properties(z), model.predict_properties(z))
    assert loaded.schema.vocabulary == model.schema.vocabulary


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        (torch.tensor([[1, 4, 9, 2, 0]]), "0..5"),
        (torch.tensor([[1, 4, 2]]), "expected token ids"),
        (torch.tensor([[1.5, 4, 2, 0, 0]]), "whole numbers"),
    ],
)
def test_bad_token_ids_are_refused(ids, message):
    with pytest.raises(DataError, match=message):
        tiny_model().encode(ids)


def test_training_improves_and_keeps_the_latent_code_in_use(tmp_path):
    """A short run on a few hundred MOSES molecules: the validation ELBO improves, the property head's error is
    tracked, and the KL stays near or above the free-bits floor times the dimensions (no posterior collapse)."""
    pytest.importorskip("rdkit")
    import vaekit
    from vaekit.molecules import load_moses

    smiles = load_moses("test", subset=300, seed=3).smiles
    (tmp_path / "m.smi").write_text("\n".join(smiles) + "\n")
    model = vaekit.train(
        tmp_path / "m.smi",
        preset="sequence",
        hidden=(32, 64),
        latent_dim=8,
        epochs=5,
        batch_size=32,
        kl_warmup=1.0,
        seed=0,
        val_fraction=0.1,
    )
    last = model.history[-1]
    assert math.isfinite(last["property_mse"])
    assert last["kl"] > 0.1 * 8 * 0.9
    assert math.isfinite(last["val_elbo"]) and last["val_elbo"] > model.history[0]["val_elbo"]


def test_word_dropout_training_is_seeded_and_sequence_only(tmp_path):
    import vaekit
    from vaekit.errors import VaekitError

    (tmp_path / "m.smi").write_text("\n".join(["CCO", "c1ccccc1", "CC(=O)O", "CCN", "OCCO", "CCCCO"] * 10) + "\n")
    opts = dict(preset="sequence", hidden=(16, 16), latent_dim=4, epochs=2, batch_size=16, properties="none")
    runs = [vaekit.train(tmp_path / "m.smi", word_dropout=0.4, seed=1, **opts) for _ in range(2)]
    plain = vaekit.train(tmp_path / "m.smi", seed=1, **opts)
    assert runs[0].history[-1]["elbo"] == runs[1].history[-1]["elbo"] != plain.history[-1]["elbo"]
    assert runs[0].run_config["training"]["options"]["word_dropout"] == 0.4
    (tmp_path / "t.csv").write_text("a,b\n1,2\n3,4\n5,6\n")
    with pytest.raises(VaekitError, match="--word-dropout applies to --model sequence only"):
        vaekit.train(tmp_path / "t.csv", word_dropout=0.2)


def test_molecule_options_need_the_sequence_model(tmp_path):
    import vaekit
    from vaekit.errors import VaekitError

    (tmp_path / "m.smi").write_text("CCO\nc1ccccc1\n")
    with pytest.raises(VaekitError, match="--model sequence"):
        vaekit.train(tmp_path / "m.smi", representation="smiles")
