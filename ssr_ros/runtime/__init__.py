"""ROS-free runtime of the node: the map keeper (one writer, immutable snapshots, the map
file), the frame worker and its mailbox, the approximate-time synchroniser, the pose
history, and the errors the ROS boundary turns into counters and error codes."""
