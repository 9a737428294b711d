"""The spatial brain: pure numpy, no ROS, no torch, no OpenCV."""
