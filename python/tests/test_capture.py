from pyhost_runtime.capture import MAX_LOG_BYTES, Capture


def captured(*writes):
    capture = Capture()
    capture.start()
    for text in writes:
        capture.write(text)
    return capture.stop()


def test_short_logs_are_kept_whole():
    assert captured("a\n", "b\n") == "a\nb\n"


def test_logs_are_cut_in_utf8_bytes_within_the_servers_frame_limit():
    text = captured("€" * MAX_LOG_BYTES)
    kept, _, note = text.partition("\n… (")
    assert kept == "€" * (MAX_LOG_BYTES // 3)
    assert note == f"{3 * MAX_LOG_BYTES - len(kept.encode())} more bytes)\n"
    assert len(text.encode()) <= MAX_LOG_BYTES + 256
