"""Object proposals from RGB-D keyframes and their lifting to metric 3D observations
(numpy, scipy, OpenCV; Open3D optional), and the offline mapping pipeline.

- :mod:`~ssr_ros.perception.proposals`: label-image, detector, boxes and none sources.
- :mod:`~ssr_ros.perception.lifting`: pixels + depth -> map-frame observations, and the
  whole-object box fit of accumulated evidence.
- :mod:`~ssr_ros.perception.priors`: category sizes and facts (round, against a wall).
- :mod:`~ssr_ros.perception.pipeline`: ``MappingPipeline`` (keyframes -> proposals ->
  lifting -> object map -> room -> cogmap).
- :mod:`~ssr_ros.perception.tum`: reader of TUM RGB-D key-frame folders.
"""
