"""The ordered passes of `compiler.resolve`, grouped by what they resolve.

`compiler.resolve.PASSES` lists them in the order they run; `state` holds what they share.
"""
