"""Pure builders of the objects a GptOssDeployment owns: plain dicts, ready to apply."""
