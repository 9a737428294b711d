"""Real RGB-D data: TUM fr3/cabinet with the boxes source gives one stable, plausible
cabinet and never the floor."""

from pathlib import Path

import numpy as np
import pytest

from ssr_ros.core.keyframes import KeyframeSelectorConfig
from ssr_ros.perception.pipeline import MappingPipeline, PipelineConfig
from ssr_ros.perception.tum import TumFolderError, read_tum_folder

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tum_fr3_cabinet"
needs_data = pytest.mark.skipif(not DATA.is_dir(),
                                reason=f"TUM fr3/cabinet key frames not found at {DATA}")


@needs_data
def test_reader_yields_frames_with_poses_and_boxes():
    frames = read_tum_folder(DATA, box_label="cabinet")
    f = next(frames)
    assert f.rgb.shape == (480, 640, 3) and f.rgb.dtype == np.uint8
    assert f.depth_m.dtype == np.float32 and 0.5 < np.median(f.depth_m[f.depth_m > 0]) < 8
    assert np.allclose(f.T_map_cam[:3, :3] @ f.T_map_cam[:3, :3].T, np.eye(3), atol=1e-6)
    assert f.boxes and f.boxes[0].label == "cabinet" and 0 < f.boxes[0].score <= 1
    assert f.K[0, 0] == pytest.approx(535.4)


def test_reader_rejects_a_folder_without_the_layout(tmp_path):
    with pytest.raises(TumFolderError):
        next(read_tum_folder(tmp_path))


@needs_data
def test_cabinet_is_one_stable_object_and_floor_is_not_an_object():
    # Every key frame of the folder is a keyframe (they are already sub-sampled).
    cfg = PipelineConfig(source="boxes", default_box_label="cabinet",
                         selector=KeyframeSelectorConfig(min_translation_m=1e-3,
                                                         min_rotation_rad=1e-3))
    pipe = MappingPipeline(cfg)
    centres = []
    for f in read_tum_folder(DATA):
        pipe.process(f)
        objs = pipe.object_map.objects()
        if objs:
            centres.append(objs[0].center_m.copy())
    objs = pipe.object_map.objects()
    assert len(objs) == 1 and objs[0].label == "cabinet"
    assert pipe.object_map.tentative() == []
    last = np.asarray(centres[-30:])
    assert np.linalg.norm(last - last[-1], axis=1).max() < 0.03
    assert np.all(objs[0].size_m >= 0.3) and np.all(objs[0].size_m <= 1.0)
    # The cabinet stands on the floor; it is not a floor-sized sheet.
    floor_z = pipe.room.floor_z_m
    bottom = objs[0].center_m[2] - objs[0].size_m[2] / 2
    assert abs(bottom - floor_z) < 0.1 and objs[0].size_m[2] > 0.3
    assert pipe.room.room().floor_area_m2 > 5.0
