-- An image job whose VM KVM stopped, restarted under TCG: KVM's words, shown beside the accelerator.
ALTER TABLE test_jobs ADD COLUMN accelerator_fallback text;
