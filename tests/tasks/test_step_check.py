"""The arithmetic checker that finds a trace's first wrong step."""

from openweight.tasks.step_check import StepCheck, check_steps, first_wrong_token


def test_the_first_false_equality_is_found_and_algebra_is_left_alone():
    text = ("3x + 76 = -92\n3x = -92 - 76\n92+76: 2+6=8; 8\n9+7: 9+7=16; 168\n"
            "68 r1: 16=3*6+0; 06\n8 r0: 8=3*2+2; 062\n")
    check = check_steps(text)
    assert check.checked == 2  # '3x + 76 = -92' and '3x = -92 - 76' are algebra, not checked
    assert text[check.first_wrong:].startswith("68 r1: 16=3*6+0")


def test_right_work_has_no_wrong_step_and_odd_text_is_not_evaluated():
    check = check_steps("1757 r0: 17=7*2+3; 2\nCheck: 7*2=14 ends in 4.\n")
    assert check.checked == 2 and check.first_wrong is None
    # a power is never evaluated, nor a division by zero
    assert check_steps("9**9**9**9 = 1\n((((2)))) = 2 = 2\n1/0 = 3\n") == StepCheck(2, None)


def test_whatever_a_model_writes_is_checked_or_skipped_never_raised():
    assert check_steps("(2)(3)=6\n()*3=0\n") == StepCheck(0, None)  # not numbers: skipped
    big = "1" + "0" * 400
    assert check_steps(f"{big}=2.5\n").first_wrong == 0  # too large for a float: not equal
    long_line = "+".join(["12"] * 2000) + " is the sum, so x = 5"
    assert check_steps(long_line) == StepCheck(0, None)


def test_the_first_wrong_token_is_found_and_counted_after_a_prefix():
    pieces = ["Check: ", "7*8", "=56", "\n", "58", "=7", "*9+", "4", "; 09"]  # the line "58=7*9+4" is wrong
    assert first_wrong_token(pieces) == 4
    assert first_wrong_token(pieces, start=4) == 0  # a group that starts right before that line
    assert first_wrong_token(pieces, start=2) == 2
    assert first_wrong_token(pieces, start=6) == 0  # the line began inside the prefix
    assert first_wrong_token(["7*8", "=56", "\n"]) is None
