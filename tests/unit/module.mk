# C unit tests: one binary per tests/unit/test_*.c, linked with libchat.
UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_OBJS  := $(patsubst %.c,$(BUILD)/%.o,$(UNIT_SRCS))
UNIT_BINS  := $(patsubst tests/unit/%.c,$(BUILD)/unit/%,$(UNIT_SRCS))

unit: $(UNIT_BINS)
$(BUILD)/unit/%: $(BUILD)/tests/unit/%.o $(LIBCHAT)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(LIBCHAT) $(LIBCHAT_LIBS)
