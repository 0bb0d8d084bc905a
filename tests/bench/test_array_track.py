"""bench.ArrayTrack / track_from_arrays / track_from_hf: your own data and module as a classification track."""

import numpy as np
import pytest
import torch
from torch import nn

import bench
from bench import ArrayTrack, Recipe, track_from_arrays, track_from_hf

RECIPE = Recipe("mlp-16-32", epochs=3, batch_size=32, lr=0.1)


def blobs(n=200, seed=0):
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=n, n_features=16, n_informative=8, n_classes=4, random_state=seed)
    return x.astype(np.float32), y


def factory(width=32):
    return lambda: nn.Sequential(nn.Linear(16, width), nn.ReLU(), nn.Linear(width, 4))


def test_load_infers_shape_classes_and_a_default_split():
    x, y = blobs()
    t = track_from_arrays("mine", x, y, factory(), RECIPE)
    data = t.load()
    split = t.split(data)
    assert t.input_shape == (16,) and t.num_classes == 4 and data.x.dtype == np.float32
    assert (len(split.members), len(split.nonmembers), len(split.population)) == (60, 60, 80)
    assert split.is_member().sum() == 60


def test_version_fingerprints_data_and_module_so_caches_never_collide():
    x, y = blobs()
    versions = set()
    for xs, f in ((x, factory()), (x, factory()), (x + 1, factory()), (x, factory(64))):
        t = track_from_arrays("mine", xs, y, f, RECIPE)
        t.load()
        versions.add(t.version)
    assert len(versions) == 3  # same data and module: same version; other data or module: another


def test_explicit_split_is_kept_and_checked():
    x, y = blobs()
    t = track_from_arrays("mine", x, y, factory(), RECIPE, members=range(0, 50), nonmembers=range(50, 100), population=range(100, 200))
    split = t.split(t.load())
    assert set(split.members) == set(range(50)) and set(split.candidates) == set(range(100))
    bad = track_from_arrays("bad", x, y, factory(), RECIPE, members=[0, 1], nonmembers=[2, 500], population=[3])
    with pytest.raises(ValueError, match=r"nonmembers indices must lie in \[0, 200\)"):
        bad.split(bad.load())


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((10, 3)), np.zeros(9, dtype=int), "same N"),
    (np.zeros((10, 3)), np.zeros(10) + 0.5, "class indices"),
    (np.full((10, 3), np.nan), np.zeros(10, dtype=int), "finite"),
])
def test_bad_arrays_are_refused_naming_the_track(x, y, match):
    with pytest.raises(ValueError, match=f"track 'mine'.*{match}"):
        track_from_arrays("mine", x, y, factory(), RECIPE).load()


def test_without_a_factory_the_recipe_must_name_an_architecture():
    x, y = blobs()
    with pytest.raises(ValueError, match="pass a module_factory"):
        track_from_arrays("mine", x, y, None, RECIPE).load()
    t = track_from_arrays("mine", x, y, None, Recipe("mlp", {"hidden": [8]}, epochs=1))
    t.load()
    assert isinstance(t.make_module()[1], nn.Linear)


def test_models_train_from_the_factory_with_the_recipe_seeded():
    x, y = blobs()
    t = track_from_arrays("mine", x, y, factory(), RECIPE)
    data = t.load()
    none = bench.Defense()
    a, b = (t.train(data[np.arange(100)], none, seed=3) for _ in range(2))
    assert isinstance(a.module, nn.Sequential) and a.module[0].out_features == 32
    assert all(torch.equal(p, q) for p, q in zip(a.module.parameters(), b.module.parameters()))  # same seed, same weights
    acc = (a.module(torch.as_tensor(data.x[:100])).argmax(1).numpy() == data.y[:100]).mean()
    assert acc > 0.5  # it trained (chance is 0.25)
    assert type(t.build_module(none)) is nn.Sequential


def test_hf_track_needs_a_pinned_revision_for_the_hub():
    with pytest.raises(ValueError, match="pin a revision"):
        track_from_hf("someone/some-dataset", revision=None, module_factory=factory(), recipe=RECIPE)


def test_hf_track_reads_images_and_labels_from_a_local_dataset(tmp_path):
    datasets = pytest.importorskip("datasets")
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (6, 5), dtype=np.uint8)) for _ in range(40)]
    folder = tmp_path / "ds"
    folder.mkdir()
    datasets.Dataset.from_dict({"img": images, "digit": [i % 3 for i in range(40)]}).to_parquet(str(folder / "train.parquet"))
    t = track_from_hf(str(folder), revision=None, x_column="img", y_column="digit", module_factory=factory(), recipe=RECIPE, name="local-hf")
    t.data_dir = str(tmp_path / "hf-cache")
    data = t.load()
    assert t.name == "local-hf" and data.x.shape == (40, 1, 6, 5) and t.num_classes == 3
    assert 0.0 <= data.x.min() and data.x.max() <= 1.0 and data.x.max() > 0.9
    np.testing.assert_allclose(data.x[0, 0], np.asarray(images[0], dtype=np.float32) / 255)
    with pytest.raises(ValueError, match="no column 'label'"):
        track_from_hf(str(folder), revision=None, x_column="img", module_factory=factory(), recipe=RECIPE).load()


PLUGIN = '''
import numpy as np
from torch import nn
from bench import ArrayTrack, Recipe, hookimpl

class MyData(ArrayTrack):
    name = "my-data"
    recipe = Recipe("two-layer", epochs=3, batch_size=32, lr=0.1)

    def arrays(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(240, 6)).astype(np.float32)
        return x, (x[:, 0] + x[:, 1] > 0).astype(np.int64)

    def make_module(self):
        return nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))

@hookimpl
def register_tracks(register):
    register(MyData)
'''


@pytest.mark.slow
def test_a_plugin_subclass_runs_through_the_api(tmp_path):
    plugin = tmp_path / "my_data_plugin.py"
    plugin.write_text(PLUGIN)
    res = bench.run("my-data", "loss", plugin_files=[str(plugin)], out_dir=tmp_path / "run", progress=False, scenarios=False)
    (rec,) = res.records
    assert rec.ok, rec.error
    assert rec.track.version.startswith("1+data-") and rec.metric("n_members") == 72  # 30 % of 240
    assert rec.utility.test_accuracy > 0.7  # the subclass's data and module trained


def test_a_track_object_cannot_take_an_installed_tracks_name(tmp_path):
    x, y = blobs()
    with pytest.raises(bench.PluginError, match="duplicate track name 'digits'"):
        bench.run(track_from_arrays("digits", x, y, factory(), RECIPE), "loss", out_dir=tmp_path, progress=False)
