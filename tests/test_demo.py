"""The README's `make demo` job: it trains, and the test loss goes down."""

from tape import demo


def test_demo_fits_diabetes_and_beats_the_untrained_model(capsys):
    final = demo.main(["--epochs", "8"])
    out = capsys.readouterr().out
    before = float(out.split("test MSE (standardized targets): ")[1].split(" ")[0])
    assert final < 0.8 * before
    assert "R^2" in out
